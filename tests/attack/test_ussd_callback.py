"""The USSD callback under attack: no secret, a wrong one, someone else's number, huge fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.testing import AUTH, USSD_TOKEN, EmulatedModem, FakeClock, at, count, say, sql

HEAD = "+84912000001"
URL = f"/ussd/africastalking?token={USSD_TOKEN}"


def form(text: str, session: str = "S1", phone: str = HEAD) -> dict[str, str]:
    return {"sessionId": session, "serviceCode": "*384*1#", "phoneNumber": phone, "networkCode": "45204", "text": text}


async def test_without_a_configured_secret_the_callback_is_off(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, residents={"ussd_token": ""})
    for url in ("/ussd/africastalking", "/ussd/africastalking?token="):
        resp = await client.post(url, data=form("3"))
        assert resp.status == 403 and await resp.text() == "END Khong duoc phep."
    assert await count(client, "ussd_sessions") == 0


async def test_a_wrong_secret_is_refused(gateway: Any) -> None:
    resp = await gateway.post("/ussd/africastalking?token=guess", data=form(""))
    assert resp.status == 403
    assert await count(gateway, "ussd_sessions") == 0


async def test_the_callback_cannot_change_anyones_subscription(gateway: Any, emulator: EmulatedModem) -> None:
    # a hamlet head subscribed by their own SMS; a caller giving their number walks "stop" and "subscribe"
    await say(gateway, emulator, "DK Na Phin", sender=HEAD)
    before = await sql(gateway, "select number, hamlet_id from subscriptions")
    assert before and before[0][0] == HEAD
    for text in ("3", "2*1", "2*3"):
        resp = await gateway.post(URL, data=form(text, session=f"x{text}"))
        assert resp.status == 200 and (await resp.text()).startswith("END De ")
    assert await sql(gateway, "select number, hamlet_id from subscriptions") == before
    assert await sql(gateway, "select count(*) from opt_outs") == [(0,)]


async def test_every_field_has_a_size(gateway: Any) -> None:
    big = "x" * 1_000_000
    for data in (form("", session=big), form("", phone=big), form("1*" * 500)):
        resp = await gateway.post(URL, data=data)
        assert resp.status == 400 and (await resp.text()).startswith("END ")
    assert await count(gateway, "ussd_sessions") == 0
    resp = await gateway.get("/healthz")
    assert resp.status == 200


async def test_old_sessions_are_pruned(emulator: EmulatedModem, start_gateway: Any, tmp_path: Path) -> None:
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    client = await start_gateway(emulator, clock=clock)
    for i in range(20):
        assert (await client.post(URL, data=form("", session=f"old{i}"))).status == 200
    clock.set(clock.now + 2 * 86400)
    assert (await client.post(URL, data=form("", session="new"))).status == 200
    assert await sql(client, "select session_id from ussd_sessions") == [("new",)]
    assert (await client.get("/api/v1/inbox", headers=AUTH)).status == 200
