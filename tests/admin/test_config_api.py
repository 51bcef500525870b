"""Pricing, model and user aliases, rate limits and config sections."""

from __future__ import annotations

import httpx
import pytest

from ccbridge.store.defaults import DEFAULT_PRICES
from tests.admin.conftest import Running, db_state

PRICE = {
    "inputPrice": 2.0,
    "outputPrice": 8.0,
    "cacheCreationPrice": None,
    "cacheReadPrice": 0.2,
    "description": "test",
    "exportToModels": False,
}


async def test_pricing_full_one_model_legacy_and_reset(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    resp = await api.put("/api/pricing", json={"models": {"m1": PRICE}, "currency": "USD"})
    assert resp.status_code == 200
    assert (await api.get("/api/pricing")).json() == {"models": {"m1": PRICE}, "currency": "USD"}
    assert "m1" in gateway.rt.snapshot.pricing.prices

    resp = await api.put(
        "/api/pricing/models", json={"model": "m2", "inputPrice": 1, "outputPrice": 2}
    )
    assert resp.status_code == 200
    assert (
        await api.put("/api/pricing/models/m3", json={"inputPrice": 1, "outputPrice": 3})
    ).status_code == 200
    assert set(gateway.rt.snapshot.pricing.prices) == {"m1", "m2", "m3"}
    assert (
        await api.request("DELETE", "/api/pricing/models", json={"model": "m2"})
    ).status_code == 200
    assert (await api.delete("/api/pricing/models/m3")).status_code == 200
    assert (await api.delete("/api/pricing/models/m3")).status_code == 404

    before = await db_state(gateway)
    for bad in (
        {"models": {"x": {"inputPrice": -1, "outputPrice": 1}}},
        {"models": {"x": {"inputPrice": 1}}},
        {"models": {"x": {**PRICE, "tier": 1}}},
        {"models": []},
    ):
        assert (await api.put("/api/pricing", json=bad)).status_code == 422, bad
    assert await db_state(gateway) == before

    assert (await api.post("/api/pricing/reset")).status_code == 200
    assert set((await api.get("/api/pricing")).json()["models"]) == set(DEFAULT_PRICES)


async def test_model_aliases(api: httpx.AsyncClient, gateway: Running) -> None:
    body = {
        "messagesModels": [{"value": "opus", "description": "Opus"}],
        "responsesModels": [],
        "geminiModels": [{"value": "g", "description": ""}],
    }
    resp = await api.put("/api/model-aliases", json=body)
    assert resp.status_code == 200 and resp.json()["config"] == body
    assert (await api.get("/api/model-aliases")).json() == body
    before = await db_state(gateway)
    assert (await api.put("/api/model-aliases", json={"chatModels": []})).status_code == 422
    assert (
        await api.put("/api/model-aliases", json={"messagesModels": [{"description": "x"}]})
    ).status_code == 422
    assert await db_state(gateway) == before
    reset = (await api.post("/api/model-aliases/reset")).json()["config"]
    assert reset["messagesModels"][0]["value"] == "opus" and reset["responsesModels"]


async def test_user_aliases(api: httpx.AsyncClient, gateway: Running) -> None:
    assert (await api.put("/api/aliases/dev-1", json={"alias": "alice"})).status_code == 200
    assert (await api.get("/api/aliases")).json() == {"aliases": {"dev-1": "alice"}}
    before = await db_state(gateway)
    taken = await api.put("/api/aliases/dev-2", json={"alias": "alice"})
    assert taken.status_code == 409
    assert await db_state(gateway) == before
    resp = await api.post(
        "/api/aliases/import", json={"aliases": {"dev-2": "bob", "dev-3": "carol"}}
    )
    assert resp.json()["imported"] == 2
    assert len((await api.get("/api/aliases")).json()["aliases"]) == 3
    assert (await api.delete("/api/aliases/dev-3")).status_code == 200
    assert (await api.delete("/api/aliases/dev-3")).status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "check"),
    [
        (
            "/api/config/debug-log",
            {"enabled": True, "maxBodySize": 2048},
            lambda s: s.debug_log.enabled and s.debug_log.max_body_size == 2048,
        ),
        (
            "/api/config/outbound-header-policy",
            {"enabled": True, "stripRules": ["X-Foo-*"]},
            lambda s: s.outbound_headers.strip_rules == ("X-Foo-*",),
        ),
        (
            "/api/config/user-agent",
            {"messages": {"latest": "claude-cli/9.9.9 (external, cli)"}},
            lambda s: s.user_agents["messages"].startswith("claude-cli/9.9.9"),
        ),
        (
            "/api/config/failover",
            {
                "enabled": True,
                "rules": [{"errorCodes": "500", "actionChain": [{"action": "failover"}]}],
            },
            lambda s: s.failover.enabled and s.failover.rules[0].error_codes == "500",
        ),
    ],
)
async def test_config_sections_reach_the_snapshot(
    api: httpx.AsyncClient, gateway: Running, path: str, body: dict, check: object
) -> None:
    resp = await api.put(path, json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["etag"] == f'"{gateway.rt.snapshot.revision}"'
    assert check(gateway.rt.snapshot)  # type: ignore[operator]
    got = (await api.get(path)).json()
    assert all(got[k] == v for k, v in body.items() if not isinstance(v, dict))
    before = await db_state(gateway)
    assert (await api.put(path, json={"bogus": 1})).status_code == 422
    assert await db_state(gateway) == before


async def test_failover_reset_restores_defaults(api: httpx.AsyncClient) -> None:
    await api.put("/api/config/failover", json={"enabled": True, "rules": []})
    reset = (await api.post("/api/config/failover/reset")).json()
    assert reset["enabled"] is False and len(reset["rules"]) == 7
    assert reset["rules"][0] == {
        "errorCodes": "429:QUOTA_EXHAUSTED",
        "actionChain": [{"action": "suspend"}],
    }


async def test_ratelimit_validation_and_reset(api: httpx.AsyncClient, gateway: Running) -> None:
    before = await db_state(gateway)
    for bad in (
        {"portal": {"requestsPerMinute": -1}},
        {"authFailure": {"thresholds": [{"failures": 0, "blockMinutes": 1}]}},
        {"api": {"enabled": "yes"}},
    ):
        assert (await api.put("/api/ratelimit", json=bad)).status_code == 422, bad
    assert await db_state(gateway) == before
    reset = (await api.post("/api/ratelimit/reset")).json()
    assert reset["portal"] == {"enabled": True, "requestsPerMinute": 60}
    assert [t["failures"] for t in reset["authFailure"]["thresholds"]] == [5, 10, 20]


async def test_ratelimit_threshold_needs_block_minutes(
    api: httpx.AsyncClient, gateway: Running
) -> None:
    # Drift: a threshold without blockMinutes was stored, and the guard then never blocked.
    before = await db_state(gateway)
    body = {"authFailure": {"enabled": True, "thresholds": [{"failures": 3}]}}
    resp = await api.put("/api/ratelimit", json=body)
    assert resp.status_code == 422
    problem = resp.json()
    assert problem["code"] == "INVALID_FIELD"
    assert problem["field"] == "authFailure.thresholds[0].blockMinutes"
    assert await db_state(gateway) == before
    got = (await api.get("/api/ratelimit")).json()
    assert all("blockMinutes" in t for t in got["authFailure"]["thresholds"])


async def test_sections_refuse_what_their_document_forbids(api: httpx.AsyncClient) -> None:
    cases = [
        ("/api/config/failover", {"rules": [{"actionChain": []}]}, "rules[0].errorCodes"),
        ("/api/config/failover", {"genericResourceWaitSeconds": 0}, "genericResourceWaitSeconds"),
        ("/api/config/debug-log", {"enabled": "yes"}, "enabled"),
        ("/api/ratelimit", {"portal": {"requestsPerMinute": -1}}, "portal.requestsPerMinute"),
        ("/api/config/user-agent", {"messages": {"latest": "a\u0000b"}}, "messages.latest"),
    ]
    for path, body, field in cases:
        resp = await api.put(path, json=body)
        assert resp.status_code == 422, (path, body, resp.text)
        assert resp.json()["field"] == field
    resp = await api.put("/api/config/debug-log", json={"enabled": True, "colour": "red"})
    assert resp.status_code == 422
    assert resp.json()["code"] == "UNKNOWN_FIELD"
    assert resp.json()["fields"] == ["colour"]


async def test_section_documents_describe_every_field(api: httpx.AsyncClient) -> None:
    schemas = (await api.get("/api/openapi.json")).json()["components"]["schemas"]
    for name in ("RateLimit", "Threshold", "DebugLog", "Failover", "FailoverRule", "UserAgent"):
        for field, prop in schemas[name]["properties"].items():
            assert prop.get("description"), (name, field)
    assert schemas["Threshold"]["required"] == ["failures", "blockMinutes"]
