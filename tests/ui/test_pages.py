"""Sign-in, sign-out and every page of the UI in real Chromium."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.fakes.upstream import messages_json_reply
from tests.proxy.conftest import MASTER_KEY, Running, UpstreamFactory
from tests.ui.conftest import Console, shot, sign_in


@pytest.mark.both_engines
async def test_sign_in_keeps_the_key_in_the_tab_and_out_of_urls(
    page: Page, gateway: Running, console: Console
) -> None:
    console.expect_status(401, "/api/openapi.json")
    await page.goto(gateway.url + "/")
    await shot(page, "00-sign-in")
    await page.get_by_label("Admin key").fill("not-the-master-key-at-all")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("That key was not accepted.")

    await page.get_by_label("Admin key").fill(MASTER_KEY)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("heading", name="Dashboard").wait_for()
    assert MASTER_KEY not in page.url
    stored = await page.evaluate("sessionStorage.getItem('ccbridge.adminKey')")
    assert stored == MASTER_KEY
    assert await page.evaluate("document.cookie") == ""

    await page.reload()  # the same tab stays signed in
    await page.get_by_role("heading", name="Dashboard").wait_for()
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Admin key")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0


async def test_a_client_key_without_admin_rights_is_refused(
    page: Page, gateway: Running, console: Console
) -> None:
    console.expect_status(403, "/api/openapi.json")
    plain = await gateway.add_key("plain")
    await page.goto(gateway.url + "/")
    await page.get_by_label("Admin key").fill(plain)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_have_text("That key is not an admin key.")


async def test_an_admin_client_key_signs_in(page: Page, gateway: Running) -> None:
    admin = await gateway.add_key("ops", is_admin=True)
    await sign_in(page, gateway, admin)


PAGES = (
    ("channels", "Channels"),
    ("keys", "Client keys"),
    ("logs", "Request logs"),
    ("settings", "Settings"),
    ("history", "History"),
    ("backup", "Backup and restore"),
    ("dashboard", "Dashboard"),
)
SETTINGS_TABS = (
    "Pricing",
    "Model aliases",
    "User aliases",
    "Rate limits",
    "Failover rules",
    "Debug logs",
    "User agent",
    "Outbound headers",
)


@pytest.mark.both_engines
async def test_every_page_loads_without_console_errors(
    page: Page, gateway: Running, upstreams: UpstreamFactory
) -> None:
    up = await upstreams(default=messages_json_reply())
    await gateway.add_channel("messages", "primary", up.url, ["sk-ant-primary-0123456789"])
    await gateway.add_channel("responses", "codex", up.url, ["sk-codex-0123456789abcd"])
    bot = await gateway.add_key("ci-bot", rate_limit_rpm=30)
    async with httpx.AsyncClient(base_url=gateway.url) as client:
        for _ in range(3):
            resp = await client.post(
                "/v1/messages",
                headers={"x-api-key": bot, "anthropic-version": "2023-06-01"},
                json={"model": "claude-sonnet-4-5", "max_tokens": 8, "messages": []},
            )
            assert resp.status_code == 200, resp.text
    await gateway.flush()
    await sign_in(page, gateway)
    requests_card = page.locator(".card").filter(has=page.get_by_text("Requests", exact=True))
    await expect(requests_card.locator("strong")).to_have_text("3")
    for i, (name, heading) in enumerate(PAGES, start=1):
        await page.get_by_role("link", name=heading.split(" and ")[0], exact=False).first.click()
        await page.get_by_role("heading", name=heading, exact=True).wait_for()
        await expect(page.get_by_text("Loading…")).to_have_count(0)
        await shot(page, f"{i:02d}-{name}")
    await page.goto(gateway.url + "/#/channels")
    for pool in ("Responses (Codex)", "Gemini", "Chat"):
        await page.get_by_role("tab", name=pool).click()
        await expect(page.get_by_role("tab", name=pool)).to_have_attribute("aria-selected", "true")
    await page.get_by_role("tab", name="Responses (Codex)").click()
    await expect(page.get_by_text("codex", exact=True)).to_be_visible()
    await page.goto(gateway.url + "/#/settings")
    for tab in SETTINGS_TABS:
        await page.get_by_role("tab", name=tab).click()
        await page.get_by_role("heading", name=tab, level=2).wait_for()
        await expect(page.get_by_text("Loading…")).to_have_count(0)
        await shot(page, "07-settings-" + tab.lower().replace(" ", "-"))

    # Usable from 1024 px: nothing wider than the window.
    await page.set_viewport_size({"width": 1024, "height": 768})
    for route in ("dashboard", "channels", "keys", "logs", "settings", "history", "backup"):
        await page.goto(f"{gateway.url}/#/{route}")
        await expect(page.get_by_text("Loading…")).to_have_count(0)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1024, f"{route} is {width} px wide at 1024"
        await shot(page, f"08-{route}-1024")


async def test_every_control_has_a_label(page: Page, gateway: Running) -> None:
    await gateway.add_channel("messages", "primary", "http://127.0.0.1:9", ["sk-ant-0123456789abc"])
    await sign_in(page, gateway)
    unlabeled = """() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter(el => !el.hidden && !(el.labels && el.labels.length)
                && !el.getAttribute('aria-label')
                && !(el.tagName === 'BUTTON' && el.textContent.trim()))
        .map(el => el.outerHTML.slice(0, 80))"""
    for route in ("dashboard", "channels", "keys", "logs", "settings", "history", "backup"):
        await page.goto(f"{gateway.url}/#/{route}")
        await expect(page.get_by_text("Loading…")).to_have_count(0)
        assert await page.evaluate(unlabeled) == [], route
    await page.goto(gateway.url + "/#/channels")
    await page.get_by_role("button", name="New channel").click()
    assert await page.evaluate(unlabeled) == [], "channel form"
    await page.goto(gateway.url + "/#/keys")
    await page.get_by_role("button", name="New key").click()
    await page.get_by_role("dialog", name="New client key").get_by_label("Expires at").wait_for()
    assert await page.evaluate(unlabeled) == [], "key form"


async def test_usable_by_keyboard(page: Page, gateway: Running) -> None:
    await page.goto(gateway.url + "/")
    await page.get_by_label("Admin key").focus()
    await page.keyboard.type(MASTER_KEY)
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Dashboard").wait_for()

    await page.get_by_role("link", name="Client keys").focus()
    await page.keyboard.press("Enter")
    await page.get_by_role("heading", name="Client keys").wait_for()
    new_key = page.get_by_role("button", name="New key")
    await new_key.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="New client key")
    await expect(dialog.get_by_label("Name")).to_be_focused()
    for _ in range(30):  # Tab cycles inside the dialog
        await page.keyboard.press("Tab")
        assert await dialog.evaluate("d => d.contains(document.activeElement)")
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(new_key).to_be_focused()


async def test_history_rollback_by_keyboard(page: Page, gateway: Running) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, headers={"x-api-key": MASTER_KEY}) as c:
        for alias in ("first", "second"):
            resp = await c.put("/api/aliases/kb-user", json={"alias": alias})
            assert resp.status_code == 200, resp.text
        before = (await c.get("/api/config/history?limit=2")).json()["items"][1]["revision"]
    await sign_in(page, gateway)
    await page.get_by_role("link", name="History").focus()
    await page.keyboard.press("Enter")
    button = page.get_by_role("button", name=f"Roll back to {before}")
    await button.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name=f"Roll back to revision {before}")
    await expect(dialog.get_by_role("button", name="Roll back")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)
    await expect(button).to_be_focused()
    await button.press("Enter")
    await expect(dialog.get_by_role("button", name="Roll back")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_contain_text(f"revision {before} restored")
    async with httpx.AsyncClient(base_url=gateway.url, headers={"x-api-key": MASTER_KEY}) as c:
        assert (await c.get("/api/aliases")).json()["aliases"]["kb-user"] == "first"
