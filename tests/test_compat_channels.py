"""RapidPro's External API channel and Jasmin's /send: Courier's own requests replayed (tests/data/
courier.json), the callbacks as Courier reads them, opt-outs, ceilings, and callbacks that outlive a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp import web

from compat import queries as q
from compat.keys import COMPAT
from gateway.core.keys import STORE
from gateway.residents.keys import RESIDENTS
from gateway.sms.keys import OUTBOX
from gateway.testing import EmulatedModem
from tests.kannel_peer import free_port

COURIER = json.loads((Path(__file__).parent / "data" / "courier.json").read_text())
CHANNEL = "8eb23e93-5ecb-45ba-b726-3b064e0c56ab"
AUTHZ = "Token rapidpro-secret-0123"
MSG_UUID = "0191e180-7d60-7000-aded-7d8b151cbd5b"
JASMIN = {"username": "Username", "password": "Password-0123"}
WAIT = 20.0


class Peer:
    """A stand-in for RapidPro's or Jasmin's receiving side: records calls, answers what it is told."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers) or ["ok"]
        self.calls: asyncio.Queue[tuple[str, str, dict[str, str]]] = asyncio.Queue()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        form |= dict(parse_qsl(request.query_string, keep_blank_values=True))
        await self.calls.put((request.method, request.path, form))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return web.Response(text=answer, status=500 if answer == "500" else 200)

    async def next(self) -> tuple[str, str, dict[str, str]]:
        return await asyncio.wait_for(self.calls.get(), WAIT)


@pytest.fixture
async def peer(aiohttp_server: Any) -> tuple[Peer, str]:
    p = Peer("ACK/Jasmin")
    server = await aiohttp_server(p.app)
    return p, f"http://127.0.0.1:{server.port}"


async def gateway_with(
    start: Callable[..., Awaitable[Any]], emulator: EmulatedModem, url: str, **more: Any
) -> Any:  # fmt: skip
    emulator.auto_report = True
    sections: dict[str, dict[str, Any]] = {
        "rapidpro": {"channel_uuid": CHANNEL, "url": url, "authorization": AUTHZ, "keywords": ["vote"]},
        "jasmin": JASMIN,
    }
    for name, values in more.items():
        sections.setdefault(name, {}).update(values)
    client = await start(emulator, **sections)
    client.app[COMPAT].backoff = 0.01  # retries at once here; 10 s and doubling in service
    return client


@pytest.mark.parametrize("case", COURIER["external_send"], ids=lambda c: c["label"])
async def test_rapidpros_external_channel_requests_are_queued(
    start_gateway: Any, emulator: EmulatedModem, peer: tuple[Peer, str], case: dict[str, Any]
) -> None:
    loa = await gateway_with(start_gateway, emulator, peer[1])

    def vn(v: str) -> str:
        return v.replace("+250788383383", "+84912345678").replace("250788383383", "84912345678")

    headers = {"Authorization": AUTHZ}
    if "json" in case:
        resp = await loa.post(
            "/rapidpro/send", data=vn(case["json"]), headers=headers | {"Content-Type": "application/json"}
        )
    elif case["method"] == "GET":
        resp = await loa.get(
            "/rapidpro/send?" + urlencode({k: vn(v) for k, v in case["query"].items()}), headers=headers
        )
    else:
        resp = await loa.post("/rapidpro/send", data={k: vn(v) for k, v in case["form"].items()}, headers=headers)
    assert resp.status // 100 == case["response"][0] // 100 == 2
    row = await loa.app[OUTBOX].get(1)
    assert (row["recipient"], row["text"], row["source"]) == ("+84912345678", case["text"], "compat:rapidpro")


async def test_rapidpros_xml_body_is_read_and_a_dtd_refused(
    start_gateway: Any, emulator: EmulatedModem, peer: tuple[Peer, str]
) -> None:
    """The channel's body may be an XML template (Courier's EX "XML" content type)."""
    loa = await gateway_with(start_gateway, emulator, peer[1])
    headers = {"Authorization": AUTHZ, "Content-Type": "application/xml"}
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><message><id>10</id><uuid>' + MSG_UUID + "</uuid>"
        "<text>Mời bà con họp thôn &amp; đóng góp</text><to>+84912345678</to><from>2020</from></message>"
    )
    resp = await loa.post("/rapidpro/send", data=body.encode(), headers=headers)
    assert resp.status == 200, await resp.text()
    row = await loa.app[OUTBOX].get(1)
    assert (row["recipient"], row["text"]) == ("+84912345678", "Mời bà con họp thôn & đóng góp")
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaa">]><message><to>+84912345678</to><text>&a;</text></message>'
    )
    resp = await loa.post("/rapidpro/send", data=bomb.encode(), headers=headers)
    assert resp.status == 400


async def test_rapidpro_hears_sent_and_delivered_for_its_uuid_and_a_retry_is_the_same_message(
    start_gateway: Any, emulator: EmulatedModem, peer: tuple[Peer, str]
) -> None:
    rapidpro, url = peer
    loa = await gateway_with(start_gateway, emulator, url)
    body = {"id": MSG_UUID, "text": "Chào bà con, " * 30, "to": "+84912345678", "from": "1234", "channel": CHANNEL}
    for _ in range(2):  # Courier timed out and sent it again
        resp = await loa.post("/rapidpro/send", data=body, headers={"Authorization": AUTHZ})
        assert resp.status == 200 and (await resp.json())["id"] == 1
    row = await loa.app[OUTBOX].get(1)
    assert row["segments"] > 1  # Loa split it, not RapidPro (max_length 6400)
    with pytest.raises(Exception, match="unknown message id"):
        await loa.app[OUTBOX].get(2)
    seen = [await rapidpro.next() for _ in range(2)]
    assert seen == [
        ("POST", f"/c/ex/{CHANNEL}/sent", {"id": MSG_UUID}),
        ("POST", f"/c/ex/{CHANNEL}/delivered", {"id": MSG_UUID}),
    ]
    for _, path, _ in seen:  # Courier's routes (its fixtures end in a slash, which it strips)
        assert path + "/" in COURIER["external_status_paths"].values()


async def test_residents_keyword_and_huy_reach_rapidpro(
    start_gateway: Any, emulator: EmulatedModem, peer: tuple[Peer, str]
) -> None:
    rapidpro, url = peer
    await gateway_with(start_gateway, emulator, url)
    emulator.deliver("0912345678", "VOTE 2 cho thôn Khau Pha")
    method, path, form = await rapidpro.next()
    assert (method, path) == ("POST", f"/c/ex/{CHANNEL}/receive")
    assert (form["from"], form["text"]) == ("+84912345678", "VOTE 2 cho thôn Khau Pha")
    datetime.fromisoformat(form["date"].replace("Z", "+00:00"))  # RFC 3339, as Courier parses it
    emulator.deliver("0912345678", "HUY")
    assert await rapidpro.next() == ("POST", f"/c/ex/{CHANNEL}/stopped", {"from": "+84912345678"})


async def test_a_message_to_someone_who_sent_huy_is_not_sent_and_rapidpro_is_told(
    start_gateway: Any, emulator: EmulatedModem, peer: tuple[Peer, str]
) -> None:
    rapidpro, url = peer
    loa = await gateway_with(start_gateway, emulator, url)
    await loa.app[RESIDENTS].unsubscribe_number("+84912345678")
    body = {"id": MSG_UUID, "text": "Khảo sát", "to": "+84912345678"}
    resp = await loa.post("/rapidpro/send", data=body, headers={"Authorization": AUTHZ})
    assert resp.status == 200 and (await resp.json())["status"] == "opted out"
    assert (await loa.app[OUTBOX].counts())["queued"] == 0
    calls = {(await rapidpro.next())[1] for _ in range(2)}
    assert calls == {f"/c/ex/{CHANNEL}/stopped", f"/c/ex/{CHANNEL}/failed"}
    resp = await loa.post("/rapidpro/send", data=body, headers={"Authorization": "Token wrong"})
    assert resp.status == 401


@pytest.mark.parametrize("case", COURIER["jasmin_send"], ids=lambda c: c["label"])
async def test_jasmins_send_as_courier_calls_it_and_receipts_until_acknowledged(
    start_gateway: Any, emulator: EmulatedModem, aiohttp_server: Any, case: dict[str, Any]
) -> None:
    jasmin_side = Peer("not yet", "ACK/Jasmin")  # the first receipt is not acknowledged: sent again
    server = await aiohttp_server(jasmin_side.app)
    loa = await gateway_with(start_gateway, emulator, "http://127.0.0.1:9")
    params = dict(case["params"]) | JASMIN | {"to": "84912345678"}
    params["dlr-url"] = params["dlr-url"].replace("https://localhost", f"http://127.0.0.1:{server.port}")
    resp = await loa.post("/jasmin/send", data=params)
    assert resp.status == case["response"][0] and await resp.text() == 'Success "1"'
    assert (await loa.app[OUTBOX].get(1))["text"] == case["text"]
    first, again = await jasmin_side.next(), await jasmin_side.next()
    assert first == again
    method, path, form = first
    assert (method, path) == ("POST", f"/c/js/{CHANNEL}/status")
    assert form["id"] == "1" and form["level"] == "2" and form["dlvrd"] == "001"
    assert COURIER["jasmin_status"][form["message_status"]] == "D"  # Courier reads it as delivered
    callbacks = await loa.app[STORE].call(q.callbacks)
    assert [(c["tries"], c["done_at"] is not None) for c in callbacks] == [(2, True)]


async def test_jasmins_errors_and_ceilings(start_gateway: Any, emulator: EmulatedModem) -> None:
    loa = await gateway_with(start_gateway, emulator, "http://127.0.0.1:9", jasmin={"daily_segments": 1})
    ok = JASMIN | {"to": "84912345678", "content": "Họp thôn"}
    resp = await loa.get("/jasmin/send?" + urlencode({k: v for k, v in ok.items() if k != "to"}))
    assert (resp.status, await resp.text()) == (400, 'Error "Mandatory argument [to] is not found."')
    resp = await loa.get("/jasmin/send?" + urlencode(ok | {"password": "x"}))
    assert (resp.status, await resp.text()) == (403, 'Error "Authentication failure for username:Username"')
    resp = await loa.get("/jasmin/send?" + urlencode(ok))
    assert resp.status == 200
    resp = await loa.get("/jasmin/send?" + urlencode(ok))
    assert (resp.status, await resp.text()) == (403, 'Error "Daily quota exceeded"')


async def test_kannels_rate_answers_temporal_failure(start_gateway: Any, emulator: EmulatedModem) -> None:
    loa = await gateway_with(
        start_gateway, emulator, "http://127.0.0.1:9",
        kannel={"username": "loa", "password": "secret-secret", "per_minute": 1},
    )  # fmt: skip
    ask = "/cgi-bin/sendsms?username=loa&password=secret-secret&to=0912345678&text=x"
    assert (await loa.get(ask)).status == 202
    resp = await loa.get(ask)
    assert (resp.status, await resp.text()) == (503, "Temporal failure, try again later.")


async def test_an_owed_call_outlives_a_restart(
    start_gateway: Any, emulator: EmulatedModem, aiohttp_server: Any
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = await gateway_with(start_gateway, emulator, url)
    emulator.deliver("0912345678", "VOTE 1")

    async def tried() -> bool:
        rows = await first.app[STORE].call(q.callbacks)
        return bool(rows) and rows[0]["tries"] >= 1

    for _ in range(400):  # RapidPro is down: the call fails and waits for its retry
        if await tried():
            break
        await asyncio.sleep(0.05)
    assert await tried()
    await first.close()
    rapidpro = Peer()
    await aiohttp_server(rapidpro.app, port=port)
    second = await gateway_with(start_gateway, emulator, url)
    _, path, form = await rapidpro.next()
    assert path == f"/c/ex/{CHANNEL}/receive" and form["text"] == "VOTE 1"
    rows = await second.app[STORE].call(q.callbacks)
    assert len(rows) == 1 and rows[0]["tries"] >= 2  # the one stored before the restart, not a new one
