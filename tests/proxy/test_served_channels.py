"""Admin views name only channels a pool can serve (issue 19)."""

from __future__ import annotations

from tests.proxy.conftest import MASTER_KEY, Running, http_client


async def test_current_channel_skips_a_type_the_pool_cannot_serve(gateway: Running) -> None:
    await gateway.add_channel(
        "messages", "unservable", "https://a.example", ["k"], service_type="bogus", priority=1
    )
    served = await gateway.add_channel(
        "messages", "served", "https://b.example", ["k"], service_type="claude", priority=2
    )

    async with http_client(headers={"x-api-key": MASTER_KEY}) as client:
        current = (await client.get(f"{gateway.url}/api/messages/channels/current")).json()

    assert (current["channelName"], current["channelId"]) == ("served", served.channel_id)


async def test_channel_lists_say_what_is_served(gateway: Running) -> None:
    await gateway.add_channel("chat", "c1", "https://a.example", ["k"], service_type="claude")
    await gateway.add_channel("chat", "c2", "https://b.example", ["k"], service_type="responses")
    await gateway.add_channel("gemini", "g1", "https://c.example", ["k"], service_type="gemini")
    await gateway.add_channel("gemini", "g2", "https://d.example", ["k"], service_type="openai")

    async with http_client(headers={"x-api-key": MASTER_KEY}) as client:
        chat = (await client.get(f"{gateway.url}/api/chat/channels")).json()["channels"]
        gemini = (await client.get(f"{gateway.url}/api/gemini/channels")).json()["channels"]

    assert [(c["name"], c["served"]) for c in chat] == [("c1", True), ("c2", False)]
    assert [(c["name"], c["served"]) for c in gemini] == [("g1", True), ("g2", False)]
