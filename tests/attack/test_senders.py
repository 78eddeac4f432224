"""An alphanumeric sender spelled like a number (any bulk-SMS route lets a customer choose "0912000001")
is a name, never that number: it confirms no alert, subscribes and opts out nobody, gets no automatic
reply, and reaches the officials marked as a name. Through the modem (TON in the PDU) and SMPP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.keys import STORE
from gateway.sms.hilink import _inbound
from gateway.sms.pdu import decode_deliver
from gateway.sms.router import Inbound
from gateway.testing import AUTH, EmulatedModem, log_in, routed, settled, sql, to, until
from gateway.testing.emulator.pdus import deliver_pdus
from gateway.testing.smsc import Smsc, smsc_missing
from gateway.web import accounts

HEAD = "+84912000001"
OTHER_HEAD = "+84912000002"


async def named(client: Any, emulator: EmulatedModem, sender: str, text: str) -> None:
    """An SMS from the alphanumeric sender `sender`, routed."""
    n = (await sql(client, "select count(*) from inbox"))[0][0]
    emulator.deliver(sender, text, named=True)
    await routed(client, n + 1)
    await settled(client)


async def add_head(client: Any, name: str, number: str) -> None:
    body = {"name": name, "number": number, "hamlet": "Khau Phạ", "roles": ["hamlet_head"]}
    resp = await client.post("/api/v1/contacts", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()


async def test_a_name_spelled_like_a_heads_number_confirms_nothing_and_opts_nobody_out(
    gateway: Any, emulator: EmulatedModem
) -> None:
    await add_head(gateway, "Vàng A Sử", HEAD)
    await add_head(gateway, "Giàng A Páo", OTHER_HEAD)
    resp = await gateway.post("/api/v1/alerts", json={"text": "Lũ về", "to": {"numbers": [HEAD]}}, headers=AUTH)
    alert = (await resp.json())["id"]
    await settled(gateway)
    before = len(to(emulator, HEAD)), len(to(emulator, OTHER_HEAD))

    await named(gateway, emulator, "0912000001", "OK")
    await named(gateway, emulator, "0912000002", "HUY")
    await named(gateway, emulator, "0912000002", "DK Khau Phạ")
    await named(gateway, emulator, "0912000002", "KS")

    board = await (await gateway.get(f"/api/v1/alerts/{alert}", headers=AUTH)).json()
    assert board["summary"]["confirmed"] == 0
    assert (len(to(emulator, HEAD)), len(to(emulator, OTHER_HEAD))) == before  # no automatic reply
    assert await sql(gateway, "select number from v_opt_outs") == []
    assert await sql(gateway, "select number from v_subscriptions") == []
    # the next heads-only alert to the hamlet still reaches both heads
    flood = {"text": "Lũ quét", "to": {"hamlets": ["Khau Phạ"], "roles": ["hamlet_head"]}}
    assert (await gateway.post("/api/v1/alerts", json=flood, headers=AUTH)).status == 201

    # every one of them reached the officials, marked as a name, and cannot be answered by SMS
    asked = await (await gateway.get("/api/v1/questions?status=open", headers=AUTH)).json()
    assert {(q["from"], q["from_name"]) for q in asked["questions"]} == {
        ("0912000001", True),
        ("0912000002", True),
    }
    assert len(asked["questions"]) == 4
    qid = asked["questions"][0]["id"]
    refused = await gateway.post(f"/api/v1/questions/{qid}/answer", json={"text": "Chào bạn"}, headers=AUTH)
    assert refused.status == 400
    assert await sql(gateway, "select alphanumeric from inbox") == [(1,)] * 4

    # the head's own OK still confirms it
    emulator.deliver(HEAD, f"OK {alert}")

    async def confirmed() -> bool:
        board = await (await gateway.get(f"/api/v1/alerts/{alert}", headers=AUTH)).json()
        return bool(board["summary"]["confirmed"] == 1)

    await until(gateway, confirmed)


async def test_the_questions_page_says_the_sender_is_a_name(gateway: Any, emulator: EmulatedModem) -> None:
    await named(gateway, emulator, "0912000003", "Cho hỏi làm giấy khai sinh")
    await gateway.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, time.time())
    assert await log_in(gateway, "canbo", "matkhau-an-toan-1") == 303
    resp = await gateway.get("/questions")
    page = await resp.text()
    assert resp.status == 200, page
    assert "không phải số điện thoại" in page and "0912000003" in page


async def test_a_name_through_smpp_gets_no_automatic_reply(emulator: EmulatedModem, start_gateway: Any) -> None:
    why = smsc_missing()
    if why:
        pytest.skip(why)
    smsc = await Smsc.start()
    try:
        smpp = {"enabled": True, "port": smsc.port, "system_id": "loa", "password": "pw", "source_addr": "UBND XA"}
        client = await start_gateway(emulator, smpp=smpp, sms={"retry_base": 0.05, "retry_max": 0.2})
        await smsc.order(mo={"from": "0912000001", "to": "1234", "text": "KS", "ton": 5})
        await smsc.order(mo={"from": "84962222222", "to": "1234", "text": "KS", "ton": 1})

        async def answered() -> bool:
            return any(p["to"] == "84962222222" for p in smsc.submits)

        await until(client, answered)
        await routed(client, 2)
        await settled(client)
        assert all(p["to"] not in ("0912000001", "84912000001") for p in smsc.submits)
        assert all(m.number != HEAD for m in emulator.sent)
        rows = dict(await sql(client, "select sender, alphanumeric from inbox"))
        assert rows == {"0912000001": 1, "+84962222222": 0}
    finally:
        await smsc.close()


digits = st.text(alphabet="0123456789+", min_size=3, max_size=11)


@given(sender=digits, text=st.text(alphabet="OKHUYDKs 0123456789", min_size=1, max_size=30))
def test_the_type_of_number_travels_from_the_pdu_to_the_router(sender: str, text: str) -> None:
    part = decode_deliver(deliver_pdus(sender, text, named=True)[0])
    assert part.alphanumeric
    assert Inbound(1, part.sender, text, part.alphanumeric).number is None


@given(number=st.from_regex(r"\A(\+84|0)9[18][0-9]{7}\Z"))
def test_a_real_number_is_still_a_number(number: str) -> None:
    part = decode_deliver(deliver_pdus(number, "OK")[0])
    assert not part.alphanumeric
    assert Inbound(1, part.sender, "OK", part.alphanumeric).number == "+84" + number.removeprefix("+84")[-9:]


def test_hilink_gives_no_type_so_letters_make_a_name() -> None:
    assert _inbound("VIETTEL", "KS", "2026-12-01 10:00:00").alphanumeric
    assert _inbound("Khuyen-Mai", "KS", "2026-12-01 10:00:00").alphanumeric
    assert not _inbound("+84912000001", "KS", "2026-12-01 10:00:00").alphanumeric
