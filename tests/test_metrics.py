"""/metrics in Prometheus text: what a scrape shows after real traffic, and who may scrape."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing import AUTH, EmulatedModem, say, wait_sent


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def test_a_scrape_counts_what_went_out_and_came_in(gateway: Any, emulator: EmulatedModem) -> None:
    resp = await gateway.post("/api/v1/messages", json={"to": ["0912000001", "0912000002"], "text": "Họp thôn"},
                              headers=AUTH)  # fmt: skip
    assert resp.status == 202
    await wait_sent(emulator, 2)
    await say(gateway, emulator, "KS")
    scrape = await gateway.get("/metrics")  # from the Pi itself: no token
    assert scrape.status == 200 and scrape.content_type == "text/plain"
    found = samples(await scrape.text())
    assert found[("loa_inbound_total", ())] == 1
    assert found[("loa_auto_replies_total", ())] == 1
    assert found[("loa_modem_connected", ())] == 1
    assert found[("loa_modem_signal_rssi", ())] == 21
    sent = {k: v for k, v in found.items() if k[0] == "loa_messages" and ("priority", "reminder") in k[1]}
    assert sum(sent.values()) == 2
    assert found[("loa_store_call_seconds", ())] < 1.0


async def test_from_another_machine_a_scrape_needs_an_admin_token(gateway: Any) -> None:
    # the request comes from 127.0.0.3: not the Pi's own loopback address as Loa counts it
    connector = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=connector) as other:
        url = gateway.make_url("/metrics")
        assert (await other.get(url)).status == 401
        assert (await other.get(url, headers=AUTH)).status == 200
