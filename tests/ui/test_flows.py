"""What an operator does in the UI, end to end in real Chromium."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.fakes.upstream import anthropic_error, messages_json_reply
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory
from tests.proxy.test_failover import FAILOVER_5XX
from tests.ui.conftest import Console, shot, sign_in

ADMIN = {"x-api-key": MASTER_KEY}


async def _api(gateway: Running, method: str, path: str, **kwargs: object) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url, headers=ADMIN) as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.both_engines
async def test_channel_and_key_made_in_the_ui_serve_a_request_seen_live(
    page: Page, gateway: Running, upstreams: UpstreamFactory, console: Console
) -> None:
    up = await upstreams(default=messages_json_reply())
    await sign_in(page, gateway)

    # A channel, through the form; a bad URL first, answered beside its field.
    console.expect_status(422, "/api/channels")
    await page.get_by_role("link", name="Channels").click()
    await page.get_by_role("button", name="New channel").click()
    form = page.get_by_role("dialog", name="New channel")
    await form.get_by_label("Name", exact=True).fill("fake-upstream")
    await form.get_by_label("Base URL").fill("not a url")
    await form.get_by_label("Upstream API key 1").fill("sk-ant-secret-0123456789")
    await form.get_by_role("button", name="Add another key").click()
    await form.get_by_label("Upstream API key 2").fill("sk-ant-second-9876543210")
    for n in (1, 2):  # typed into masked fields
        await expect(form.get_by_label(f"Upstream API key {n}")).to_have_attribute(
            "type", "password"
        )
    await form.get_by_role("button", name="Create channel").click()
    field_error = form.locator(".field.invalid .field-error")
    await expect(field_error).to_have_count(1)
    await expect(form.locator(".field.invalid label")).to_have_text("Base URL")
    await shot(page, "10-channel-form-error")
    await form.get_by_label("Base URL").fill(up.url)
    await form.get_by_role("button", name="Create channel").click()
    await expect(form).to_have_count(0)
    row = page.locator("tr", has_text="fake-upstream")
    await expect(row).to_contain_text("active")

    # Its key is only ever shown masked.
    await row.get_by_role("button", name="Keys").click()
    keys = page.get_by_role("dialog", name="Keys of fake-upstream")
    await expect(keys.locator("code")).to_have_text(["sk-ant-s...6789", "sk-ant-s...3210"])
    assert "sk-ant-secret-0123456789" not in await page.content()
    await keys.get_by_role("button", name="Close").click()

    # Test it: one real request to the upstream, and the mapping.
    await row.get_by_role("button", name="Test").click()
    test = page.get_by_role("dialog", name="Test fake-upstream")
    await test.get_by_role("button", name="Send a request to the upstream").click()
    await expect(test.get_by_role("status")).to_contain_text("Upstream answered in")
    assert up.requests[-1].path == "/v1/models"
    assert up.requests[-1].header("x-api-key") == "sk-ant-secret-0123456789"
    await test.get_by_role("button", name="Test", exact=True).click()
    await expect(test.locator("dl")).to_contain_text("claude-sonnet-4-5")
    await shot(page, "10b-channel-test")
    await test.get_by_role("button", name="Close").click()
    upstream_calls = len(up.requests)

    # A client key: the secret is shown once, with a copy button.
    await page.get_by_role("link", name="Client keys").click()
    await page.get_by_role("button", name="New key").click()
    dialog = page.get_by_role("dialog", name="New client key")
    await dialog.get_by_label("Name").fill("laptop")
    await dialog.get_by_role("button", name="Create key").click()
    secret_box = page.get_by_label("New key")
    await expect(secret_box).to_have_value(re.compile(r"^sk-\S{20,}$"))
    secret = await secret_box.input_value()
    await expect(page.get_by_role("button", name="Copy")).to_be_visible()
    await shot(page, "11-key-created")
    await page.get_by_role("button", name="Done").click()
    await expect(page.locator("tr", has_text="laptop")).to_contain_text(secret[:8])
    assert secret not in await page.content()

    # The log page, tailing live; then a request with that key through that channel.
    await page.get_by_role("link", name="Request logs").click()
    await expect(page.get_by_role("status").filter(has_text="live")).to_have_text("● live")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.post(
            "/v1/messages",
            headers={"x-api-key": secret, "anthropic-version": "2023-06-01"},
            json={
                "model": "claude-sonnet-4-5",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
    assert resp.status_code == 200, resp.text
    assert up.requests[upstream_calls].header("x-api-key") == "sk-ant-secret-0123456789"
    logged = page.locator("tbody tr", has_text="fake-upstream")
    await expect(logged).to_have_count(1, timeout=10_000)  # arrived without a reload
    await expect(logged).to_contain_text("claude-sonnet-4-5")
    await shot(page, "12-logs-live")
    await logged.click()
    detail = page.get_by_role("dialog")
    await expect(detail).to_contain_text("Failover chain")
    await expect(detail).to_contain_text("fake-upstream")
    await shot(page, "13-log-detail")


async def test_dragging_a_channel_reorders_the_pool(page: Page, gateway: Running) -> None:
    for name in ("alpha", "beta", "gamma"):
        await gateway.add_channel("messages", name, "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Channels").click()
    names = page.locator("table.channels tbody tr td:nth-child(3) strong")
    await expect(names).to_have_count(3)
    first, second, last = await names.all_inner_texts()

    await page.locator("tr", has_text=last).drag_to(page.locator("tr", has_text=first))
    await expect(names).to_have_text([last, first, second])
    listed = (await _api(gateway, "GET", "/api/channels")).json()["channels"]
    assert {c["name"]: c["priority"] for c in listed} == {last: 1, first: 2, second: 3}

    # The same by keyboard: focus the arrow and press Enter.
    await page.get_by_role("button", name=f"Move {second} up").focus()
    await page.keyboard.press("Enter")
    await expect(names).to_have_text([last, second, first])
    await shot(page, "14-channels-reordered")


async def test_promotion_lasts_the_chosen_time(page: Page, gateway: Running) -> None:
    await gateway.add_channel("messages", "spare", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Channels").click()
    row = page.locator("tr", has_text="spare")
    await row.get_by_role("button", name="Promote…").click()
    dialog = page.get_by_role("dialog", name="Promote spare")
    await dialog.get_by_label("Promotion lasts").select_option(label="4 hours")
    await shot(page, "15-channel-promote")
    before = datetime.now(UTC)
    await dialog.get_by_role("button", name="Promote", exact=True).click()
    await expect(dialog).to_have_count(0)
    await expect(row).to_contain_text("promoted until")
    (listed,) = (await _api(gateway, "GET", "/api/channels")).json()["channels"]
    until = datetime.fromisoformat(listed["promotionUntil"].replace("Z", "+00:00"))
    assert timedelta(hours=4) <= until - before < timedelta(hours=4, minutes=1)
    await row.get_by_role("button", name="End promotion").click()
    await expect(row).not_to_contain_text("promoted until")


async def test_an_edit_that_lost_a_race_says_so_and_offers_reload(
    page: Page, gateway: Running, console: Console
) -> None:
    await gateway.add_channel("messages", "shared", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Channels").click()
    await page.locator("tr", has_text="shared").get_by_role("button", name="Edit").click()
    form = page.get_by_role("dialog", name="Edit shared")
    await form.get_by_label("Description").fill("mine")

    # Someone else saves first.
    other = await _api(gateway, "PUT", "/api/channels/0", json={"description": "theirs"})
    assert other.status_code == 200

    console.expect_status(409, "/api/channels/" + other.json()["channel"]["id"])
    await form.get_by_role("button", name="Save").click()
    note = form.locator(".note.conflict")
    await expect(note).to_contain_text("Someone else changed the configuration")
    await shot(page, "15-conflict")
    await note.get_by_role("button", name="Reload").click()
    await expect(form).to_have_count(0)
    await page.locator("tr", has_text="shared").get_by_role("button", name="Edit").click()
    await expect(page.get_by_role("dialog").get_by_label("Description")).to_have_value("theirs")


async def test_restore_shows_a_preview_before_it_changes_anything(
    page: Page, gateway: Running, tmp_path: Path
) -> None:
    await gateway.add_channel("messages", "keep", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await gateway.add_channel("messages", "drop", "http://127.0.0.1:9", ["sk-ant-0123456789abd"])
    backup = (await _api(gateway, "GET", "/api/config/backup")).json()
    config = backup["config"]
    config["upstream"] = [c for c in config["upstream"] if c["name"] != "drop"]
    config["upstream"][0]["description"] = "restored"
    config["upstream"].append({"id": "fresh1", "name": "fresh", "serviceType": "claude"})
    del backup["pricing"]["models"]["gpt-5"]
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(backup))

    await sign_in(page, gateway)
    await page.get_by_role("link", name="Backup").click()
    await page.get_by_label("Backup file (JSON)").set_input_files(str(path))
    preview = page.get_by_role("region", name="Restore preview")
    await expect(preview.locator("ul.added")).to_contain_text("fresh (messages, fresh1)")
    await expect(preview.locator("ul.removed").first).to_contain_text("drop")
    await expect(preview.locator("ul.changed").first).to_contain_text("keep")
    await expect(preview.locator("ul.changed").first).to_contain_text("description")
    await expect(preview).to_contain_text("gpt-5")
    await shot(page, "16-restore-preview")
    names = [c["name"] for c in (await _api(gateway, "GET", "/api/channels")).json()["channels"]]
    assert sorted(names) == ["drop", "keep"]  # nothing changed yet

    await page.get_by_role("button", name="Restore this backup").click()
    await expect(page.get_by_role("status").filter(has_text="Restored")).to_contain_text(
        "2 channel(s)"
    )
    names = [c["name"] for c in (await _api(gateway, "GET", "/api/channels")).json()["channels"]]
    assert sorted(names) == ["fresh", "keep"]


async def test_a_restore_that_empties_a_pool_says_so_and_needs_consent(
    page: Page, gateway: Running, tmp_path: Path, console: Console
) -> None:
    await gateway.add_channel("messages", "keep", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await gateway.add_channel("responses", "codex", "http://127.0.0.1:9", ["sk-0123456789abcd"])
    backup = (await _api(gateway, "GET", "/api/config/backup")).json()
    backup["config"]["responsesUpstream"] = []
    path = tmp_path / "backup.json"
    path.write_text(json.dumps(backup))

    console.expect_status(422, "/api/config/restore")
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Backup").click()
    await page.get_by_label("Backup file (JSON)").set_input_files(str(path))
    preview = page.get_by_role("region", name="Restore preview")
    await expect(preview.get_by_role("alert")).to_contain_text("responses pool(s)")
    await page.get_by_role("button", name="Restore this backup").click()
    await expect(page.get_by_text("without any channel").last).to_be_visible()
    pools = {r.channel_type for r in await gateway.db.daos.channels.list()}
    assert pools == {"messages", "responses"}  # refused: nothing changed

    await page.get_by_label("Leave those pools without channels").check()
    await page.get_by_role("button", name="Restore this backup").click()
    await expect(page.get_by_role("status").filter(has_text="Restored")).to_contain_text(
        "1 channel(s)"
    )
    pools = {r.channel_type for r in await gateway.db.daos.channels.list()}
    assert pools == {"messages"}


async def test_a_failed_attempt_shows_its_failover_step(
    page: Page, gateway: Running, upstreams: UpstreamFactory
) -> None:
    await gateway.set_failover(FAILOVER_5XX)
    bad = await upstreams(anthropic_error(500, "api_error", "boom"))
    good = await upstreams(default=messages_json_reply(text="ok"))
    await gateway.add_channel("messages", "bad", bad.url, ["sk-ant-bad-0123456789"])
    await gateway.add_channel("messages", "good", good.url, ["sk-ant-good-0123456789"])
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        resp = await client.post(
            "/v1/messages",
            headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
            json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []},
        )
    assert resp.status_code == 200, resp.text
    await gateway.flush()

    await sign_in(page, gateway)
    # The dashboard counts the failover against the channel that failed.
    health = page.locator("table.health")
    await expect(health.locator("caption")).to_contain_text("every attempt of the period (2)")
    cells = health.locator("tbody tr", has_text="bad").locator("td")
    await expect(cells.nth(6)).to_have_text("1")
    await expect(health.locator("tbody tr", has_text="good").locator("td").nth(6)).to_have_text("0")
    await expect(health.locator("tbody tr", has_text="good").locator("td").nth(5)).to_contain_text(
        " / "
    )
    await page.get_by_role("link", name="Request logs").click()
    failed = page.locator("tbody tr", has_text="bad")
    await expect(failed).to_contain_text("(failover)")
    await expect(page.locator("tbody tr", has_text="good")).to_contain_text("completed")
    await failed.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await expect(dialog.locator("ol.chain")).to_have_text("500 → failover → next key")
    attempts = dialog.locator("table.chain-table tbody tr")
    await expect(attempts).to_have_count(2)
    await expect(attempts.nth(0)).to_contain_text("bad")
    await expect(attempts.nth(0)).to_have_attribute("aria-current", "true")
    await expect(attempts.nth(1)).to_contain_text("good")
    await shot(page, "17-log-failover")
    # The other attempt of the same client request opens from the chain.
    await attempts.nth(1).get_by_role("button").click()
    await expect(attempts.nth(1)).to_have_attribute("aria-current", "true")
    await expect(dialog.locator("dl.kv").first).to_contain_text("good")


async def test_logs_filter_by_client_key(
    page: Page, gateway: Running, upstreams: UpstreamFactory
) -> None:
    good = await upstreams(default=messages_json_reply(text="ok"))
    await gateway.add_channel("messages", "only", good.url, ["sk-ant-only-0123456789"])
    bot = await gateway.add_key("ci-bot")
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        for key, model in ((MASTER_KEY, "claude-sonnet-4-5"), (bot, "claude-haiku-4-5")):
            resp = await client.post(
                "/v1/messages",
                headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
                json={"model": model, "max_tokens": 8, "messages": []},
            )
            assert resp.status_code == 200, resp.text
    await gateway.flush()

    await sign_in(page, gateway)
    await page.get_by_role("link", name="Request logs").click()
    rows = page.locator("table.logs tbody tr")
    await expect(rows).to_have_count(2)
    await page.get_by_label("Client key").select_option(label="ci-bot (#1)")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("claude-haiku-4-5")
    await expect(rows.first).to_contain_text("ci-bot")
    await page.get_by_label("Client key").select_option(label="master key")
    await page.get_by_role("button", name="Apply").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("claude-sonnet-4-5")


async def test_key_permissions_rotate_and_revoke(page: Page, gateway: Running) -> None:
    await gateway.add_key("agent")
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Client keys").click()
    row = page.locator("tr", has_text="agent")
    await row.get_by_role("button", name="Edit").click()
    form = page.get_by_role("dialog", name="Edit key agent")
    await form.get_by_label("Requests per minute (0 = the default limit)").fill("42")
    await form.get_by_label("All endpoints").uncheck()
    await form.get_by_label("messages", exact=True).check()
    await form.get_by_label("Allowed models").fill("claude-sonnet-4-5, claude-haiku-4-5")
    await form.get_by_role("button", name="Save").click()
    await expect(form).to_have_count(0)
    await expect(row).to_contain_text("42")
    keys = (await _api(gateway, "GET", "/api/keys")).json()["keys"]
    agent = next(k for k in keys if k["name"] == "agent")
    assert agent["rateLimitRpm"] == 42
    assert agent["allowedEndpoints"] == ["messages"]
    assert agent["allowedModels"] == ["claude-sonnet-4-5", "claude-haiku-4-5"]

    await row.get_by_role("button", name="Rotate").click()
    secret = page.get_by_label("New key")
    await expect(secret).to_have_value(re.compile(r"^sk-"))
    await page.get_by_role("button", name="Done").click()

    await row.get_by_role("button", name="Revoke").click()
    confirm = page.get_by_role("dialog", name="Revoke key")
    await expect(confirm).to_contain_text("cannot be undone")
    await confirm.get_by_role("button", name="Revoke").click()
    await expect(row).to_contain_text("revoked")
    keys = (await _api(gateway, "GET", "/api/keys")).json()["keys"]
    assert next(k for k in keys if k["name"] == "agent")["status"] == "revoked"


async def test_settings_editors_save_and_show_the_api_message(
    page: Page, gateway: Running, console: Console
) -> None:
    await sign_in(page, gateway)
    await page.goto(gateway.url + "/#/settings/debug-log")
    form = page.get_by_role("form", name="Debug logs")
    await form.get_by_label("Enabled").check()
    await form.get_by_label("Max body size").fill("-5")
    console.expect_status(422, "/api/config/debug-log")
    await form.get_by_role("button", name="Save").click()
    await expect(form.locator(".field.invalid .field-error")).to_contain_text("maxBodySize")
    await form.get_by_label("Max body size").fill("4096")
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_role("status")).to_have_text("Saved.")
    saved = (await _api(gateway, "GET", "/api/config/debug-log")).json()
    assert (saved["enabled"], saved["maxBodySize"]) == (True, 4096)

    await page.goto(gateway.url + "/#/settings/pricing")
    await page.get_by_role("button", name="Add model").click()
    await page.get_by_label("Model", exact=True).last.fill("my-model")
    await page.get_by_label("Input price of my-model").fill("2.5")
    await page.get_by_label("Output price of my-model").fill("10")
    await page.get_by_role("button", name="Save prices").click()
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    prices = (await _api(gateway, "GET", "/api/pricing")).json()["models"]
    assert (prices["my-model"]["inputPrice"], prices["my-model"]["outputPrice"]) == (2.5, 10)


async def test_failover_rules_and_rate_limits_are_forms(
    page: Page, gateway: Running, console: Console
) -> None:
    await sign_in(page, gateway)
    await page.goto(gateway.url + "/#/settings/failover")
    form = page.get_by_role("form", name="Failover rules")
    await expect(form.get_by_label("Generic resource wait seconds")).to_have_value("20")
    assert await form.locator("textarea").count() == 0  # no JSON to type
    rules = form.locator("fieldset.rows").filter(has=page.get_by_text("Rules", exact=True)).first
    before = await rules.locator(":scope > fieldset.row-item").count()
    assert before == 7  # the default rules, each a group of fields
    await rules.get_by_role("button", name="Add rule").click()
    rule = rules.locator(":scope > fieldset.row-item").last
    await rule.get_by_label("Error codes").fill("529")
    await rule.get_by_role("button", name="Add action chain").click()
    await rule.get_by_label("Action", exact=True).last.select_option("retry")
    await rule.get_by_label("Wait seconds").last.fill("-3")
    console.expect_status(422, "/api/config/failover")
    await form.get_by_role("button", name="Save").click()
    bad = form.locator(".field.invalid")
    await expect(bad.locator("label")).to_have_text("Wait seconds")
    await expect(bad.locator(".field-error")).to_contain_text(
        f"rules[{before}].actionChain[0].waitSeconds"
    )
    await rule.get_by_label("Wait seconds").last.fill("7")
    await rule.get_by_label("Max attempts").last.fill("2")
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_role("status")).to_have_text("Saved.")
    await shot(page, "18-settings-failover-form")
    saved = (await _api(gateway, "GET", "/api/config/failover")).json()["rules"]
    assert saved[before] == {
        "errorCodes": "529",
        "actionChain": [{"action": "retry", "waitSeconds": 7, "maxAttempts": 2}],
    }

    await page.goto(gateway.url + "/#/settings/ratelimit")
    form = page.get_by_role("form", name="Rate limits")
    await expect(form.locator("fieldset.row-item")).to_have_count(3)
    api_group = form.locator("fieldset.group").filter(has=page.get_by_text("API", exact=True))
    await api_group.get_by_label("Requests per minute").fill("250")
    thresholds = form.locator("fieldset.row-item")
    count = await thresholds.count()
    await form.get_by_role("button", name=f"Remove threshold {count}").click()
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_role("status")).to_have_text("Saved.")
    limits = (await _api(gateway, "GET", "/api/ratelimit")).json()
    assert limits["api"]["requestsPerMinute"] == 250
    assert len(limits["authFailure"]["thresholds"]) == count - 1

    # The seeded default aliases stay; the new row goes last.
    seeded = (await _api(gateway, "GET", "/api/model-aliases")).json()["messagesModels"]
    await page.goto(gateway.url + "/#/settings/model-aliases")
    form = page.get_by_role("form", name="Model aliases")
    messages = form.locator("fieldset.rows").filter(
        has=page.get_by_text("Messages models", exact=True)
    )
    await messages.get_by_role("button", name="Add messages model").click()
    await messages.get_by_label("Value").last.fill("opus")
    await messages.get_by_label("Description").last.fill("the big one")
    await form.get_by_role("button", name="Save").click()
    await expect(form.get_by_role("status")).to_have_text("Saved.")
    aliases = (await _api(gateway, "GET", "/api/model-aliases")).json()
    assert aliases["messagesModels"] == [*seeded, {"value": "opus", "description": "the big one"}]


async def _ask(gateway: Running, key: str, model: str = "claude-sonnet-4-5") -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        return await client.post(
            "/v1/messages",
            headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
            json={
                "model": model,
                "max_tokens": 16,
                "messages": [{"role": "user", "content": "hi"}],
            },
        )


async def test_key_budget_and_expiry_set_in_the_ui_and_spent_by_a_request(
    page: Page, gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_json_reply(input_tokens=300, output_tokens=20))
    await gateway.add_channel("messages", "paid", up.url, ["sk-ant-paid-0123456789"])
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Client keys").click()
    await page.get_by_role("button", name="New key").click()
    dialog = page.get_by_role("dialog", name="New client key")
    await dialog.get_by_label("Name").fill("metered")
    await dialog.get_by_label("Expires at").fill("2030-01-31T12:00")
    await dialog.get_by_label("Spend budget (USD").fill("5")
    await dialog.get_by_label("Spend budget period").select_option("monthly")
    await dialog.get_by_label("Token budget (input").fill("1000000")
    await dialog.get_by_label("Token budget period").select_option("daily")
    await shot(page, "17-key-budget-form")
    await dialog.get_by_role("button", name="Create key").click()
    secret = await page.get_by_label("New key").input_value()
    await page.get_by_role("button", name="Done").click()

    (made,) = (await _api(gateway, "GET", "/api/keys")).json()["keys"]
    expected = await page.evaluate("new Date('2030-01-31T12:00').getTime()")
    expires = datetime.fromisoformat(made["expiresAt"].replace("Z", "+00:00"))
    assert expires.timestamp() * 1000 == expected  # the browser's local time, as UTC
    assert (made["budgetUsd"], made["budgetPeriod"]) == (5.0, "monthly")
    assert (made["tokenBudget"], made["tokenBudgetPeriod"]) == (1000000, "daily")
    assert made["spentUsd"] == 0 and made["tokensUsed"] == 0

    resp = await _ask(gateway, secret)
    assert resp.status_code == 200, resp.text
    await gateway.flush()
    spent = (await _api(gateway, "GET", f"/api/keys/{made['id']}")).json()
    assert spent["tokensUsed"] > 0 and spent["spentUsd"] > 0
    await page.reload()
    row = page.locator("tr", has_text="metered")
    await expect(row.get_by_label("Spend of metered")).to_have_attribute(
        "value", str(spent["spentUsd"])
    )
    await expect(row).to_contain_text(f"{spent['tokensUsed']:,} / 1,000,000 daily")
    await expect(row).to_contain_text("/ $5.00 monthly")
    await expect(row).to_contain_text("expires")
    await expect(row).to_contain_text("resets")

    # Edited down below what it spent: the list says the budget is spent.
    await row.get_by_role("button", name="Edit").click()
    edit = page.get_by_role("dialog", name="Edit key metered")
    await expect(edit.get_by_label("Spend budget (USD")).to_have_value("5")
    await edit.get_by_label("Token budget (input").fill("10")
    await edit.get_by_label("Expires at").fill("")
    await edit.get_by_role("button", name="Save").click()
    await expect(edit).to_have_count(0)
    await expect(row.locator(".badge.spent")).to_have_text("budget spent")
    await shot(page, "18-keys-budgets")
    edited = (await _api(gateway, "GET", f"/api/keys/{made['id']}")).json()
    assert (edited["tokenBudget"], edited["expiresAt"], edited["budgetUsd"]) == (10, None, 5.0)


async def test_dashboard_shows_requests_of_unpriced_models(
    page: Page, gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_json_reply(model="homebrew-model-9"))
    await gateway.add_channel("messages", "local", up.url, ["sk-ant-local-0123456789"])
    key = await gateway.add_key("tester")
    for _ in range(2):
        assert (await _ask(gateway, key, "homebrew-model-9")).status_code == 200
    await gateway.flush()
    await sign_in(page, gateway)
    note = page.get_by_role("status").filter(has_text="unpriced")
    await expect(note).to_contain_text("2 request(s) of unpriced models")
    await expect(note).to_contain_text("homebrew-model-9 (2)")
    await shot(page, "19-dashboard-unpriced")


async def test_history_shows_a_change_its_diff_and_rolls_it_back(
    page: Page, gateway: Running, console: Console
) -> None:
    for alias in ("alice-laptop", "bob-laptop"):
        resp = await _api(gateway, "PUT", "/api/aliases/dev-laptop", json={"alias": alias})
        assert resp.status_code == 200, resp.text
    items = (await _api(gateway, "GET", "/api/config/history?limit=2")).json()["items"]
    newest, before = items[0]["revision"], items[1]["revision"]

    await sign_in(page, gateway)
    await page.get_by_role("link", name="History").click()
    await page.get_by_role("heading", name="History", exact=True).wait_for()
    first = page.locator("table.history tbody tr").first
    await expect(first).to_contain_text(str(newest))
    await expect(first).to_contain_text("PUT /api/aliases/dev-laptop")
    await expect(first.locator("del")).to_have_text("alice-laptop")
    await expect(first.locator("ins")).to_have_text("bob-laptop")

    # The diff between two chosen revisions.
    await page.get_by_label("From revision").select_option(str(before - 1))
    await page.get_by_label("To revision").select_option(str(newest))
    await page.get_by_role("button", name="Compare").click()
    diff = page.get_by_role("region", name="Difference")
    await expect(diff).to_contain_text(f"From revision {before - 1} to {newest}")
    await expect(diff.locator(".op")).to_have_text(["added"])
    await expect(diff).to_contain_text("bob-laptop")
    await shot(page, "20-history")

    # A rollback that lost a race says so and offers to reload.
    await page.get_by_role("button", name=f"Roll back to {before}").click()
    dialog = page.get_by_role("dialog", name=f"Roll back to revision {before}")
    other = await _api(gateway, "PUT", "/api/aliases/dev-laptop", json={"alias": "carol-laptop"})
    assert other.status_code == 200
    console.expect_status(409, f"/api/config/rollback/{before}")
    await dialog.get_by_role("button", name="Roll back").click()
    await expect(dialog.locator(".note.conflict")).to_contain_text("Someone else changed")
    await shot(page, "21-rollback-conflict")
    await dialog.get_by_role("button", name="Reload").click()
    await expect(dialog).to_have_count(0)
    await expect(page.locator("table.history tbody tr").first.locator("ins")).to_have_text(
        "carol-laptop"
    )

    # Confirmed, it writes the old value back as a new revision.
    await page.get_by_role("button", name=f"Roll back to {before}").click()
    await dialog.get_by_role("button", name="Roll back").click()
    await expect(page.get_by_role("status")).to_contain_text(f"revision {before} restored")
    aliases = (await _api(gateway, "GET", "/api/aliases")).json()["aliases"]
    assert aliases["dev-laptop"] == "alice-laptop"
    await expect(page.locator("table.history tbody tr").first.locator("ins")).to_have_text(
        "alice-laptop"
    )


async def test_server_backup_created_restored_and_deleted(page: Page, gateway: Running) -> None:
    await gateway.add_channel("messages", "keep", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await sign_in(page, gateway)
    await page.get_by_role("link", name="Backup").click()
    await page.get_by_label("Backup name (optional)").fill("before-change")
    await page.get_by_role("button", name="Create server backup").click()
    row = page.locator("table.server-backups tr", has_text="before-change.json")
    await expect(row).to_contain_text("manual")
    listed = (await _api(gateway, "GET", "/api/config/backups")).json()["backups"]
    assert [b["filename"] for b in listed] == ["before-change.json"]

    changed = await _api(gateway, "PUT", "/api/channels/0", json={"description": "changed"})
    assert changed.status_code == 200, changed.text
    await row.get_by_role("button", name="Restore before-change.json").click()
    dialog = page.get_by_role("dialog", name="Restore before-change.json")
    preview = dialog.get_by_role("region", name="Restore preview")
    await expect(preview.locator("ul.changed").first).to_contain_text("keep")
    await expect(preview.locator("ul.changed").first).to_contain_text("description")
    await shot(page, "22-server-backup-restore")
    await dialog.get_by_role("button", name="Restore this backup").click()
    await expect(page.get_by_role("status")).to_contain_text("Restored before-change.json")
    (channel,) = (await _api(gateway, "GET", "/api/channels")).json()["channels"]
    assert channel["description"] != "changed"
    await expect(page.locator("table.server-backups")).to_contain_text("before a restore")
    await shot(page, "23-server-backups")

    await row.get_by_role("button", name="Delete before-change.json").click()
    confirm = page.get_by_role("dialog", name="Delete backup")
    await confirm.get_by_role("button", name="Delete").click()
    await expect(row).to_have_count(0)
    listed = (await _api(gateway, "GET", "/api/config/backups")).json()["backups"]
    assert [b["reason"] for b in listed] == ["before_restore"]
