"""SMPP to an SMSC nobody here wrote (the npm `smpp` package): submits, UDH parts, receipts, inbound."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.testing import AUTH, EmulatedModem, sql, until
from gateway.testing.smsc import Smsc, smsc_missing

VIETNAMESE = "Thông báo: sáng thứ Hai 7h30 tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã, nhớ mang sổ tiêm."


@pytest.fixture
async def smsc() -> AsyncIterator[Smsc]:
    why = smsc_missing()
    if why:
        pytest.skip(why)
    server = await Smsc.start()
    yield server
    await server.close()


async def gateway_on(start_gateway: Any, emulator: EmulatedModem, smsc: Smsc) -> Any:
    smpp = {"enabled": True, "port": smsc.port, "system_id": "loa", "password": "pw", "source_addr": "UBND XA"}
    return await start_gateway(emulator, smpp=smpp, sms={"retry_base": 0.05, "retry_max": 0.2})


async def test_a_long_vietnamese_message_goes_in_udh_parts_and_its_receipts_come_back(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc
) -> None:
    client = await gateway_on(start_gateway, emulator, smsc)
    resp = await client.post("/api/v1/messages", json={"to": ["0912345678"], "text": VIETNAMESE}, headers=AUTH)
    (message_id,) = (await resp.json())["ids"]

    async def delivered() -> bool:
        return bool((await sql(client, "select status from outbox where id=?", message_id))[0][0] == "delivered")

    await until(client, delivered)
    parts = smsc.submits
    assert [p["to"] for p in parts] == ["84912345678", "84912345678"] and parts[0]["from"] == "UBND XA"
    assert all(p["data_coding"] == 8 for p in parts)  # UCS-2
    assert [p["udh"][0][-4:] for p in parts] == ["0201", "0202"]  # part 1 of 2, part 2 of 2
    assert "".join(p["text"] for p in parts) == VIETNAMESE
    ids = [r[0] for r in await sql(client, "select remote_id from outbox_parts order by part")]
    assert ids == [p["id"] for p in parts] and all(len(i) == 36 for i in ids)  # kept whole


async def test_a_residents_long_sms_is_reassembled_and_answered_through_smpp(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc
) -> None:
    client = await gateway_on(start_gateway, emulator, smsc)
    question = "Cho em hỏi làm giấy khai sinh cho con cần những gì ạ, " * 3
    await smsc.order(mo={"from": "84961234567", "to": "1234", "text": question})

    async def answered() -> bool:
        return any(p["to"] == "84961234567" for p in smsc.submits)

    await until(client, answered)
    assert (await sql(client, "select sender, text from inbox"))[0] == ("+84961234567", question)
    reply = "".join(p["text"] for p in smsc.submits if p["to"] == "84961234567")
    assert reply.startswith("Khai sinh:")


async def test_a_throttled_submit_is_sent_again_and_arrives_once(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc
) -> None:
    client = await gateway_on(start_gateway, emulator, smsc)
    await smsc.order(throttle=2)
    resp = await client.post("/api/v1/messages", json={"to": ["0912345678"], "text": "Họp thôn"}, headers=AUTH)
    (message_id,) = (await resp.json())["ids"]

    async def delivered() -> bool:
        return bool((await sql(client, "select status from outbox where id=?", message_id))[0][0] == "delivered")

    await until(client, delivered)
    assert [p["text"] for p in smsc.submits] == ["Họp thôn"]


async def test_unaccented_text_goes_in_the_gsm_alphabet_with_its_escaped_characters(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc
) -> None:
    client = await gateway_on(start_gateway, emulator, smsc)
    text = "Hop thon luc 19h [nha van hoa], mang theo {so ho khau} ~ 20.000d " * 3
    resp = await client.post("/api/v1/messages", json={"to": ["0912345678"], "text": text, "encoding": "gsm7"},
                             headers=AUTH)  # fmt: skip
    (message_id,) = (await resp.json())["ids"]

    async def delivered() -> bool:
        return bool((await sql(client, "select status from outbox where id=?", message_id))[0][0] == "delivered")

    await until(client, delivered)
    assert all(p["data_coding"] == 0 for p in smsc.submits) and len(smsc.submits) == 2
    assert "".join(p["text"] for p in smsc.submits) == text  # every character, escapes and all
