"""SMPP to an SMSC nobody here wrote (the npm `smpp` package): submits, UDH parts, receipts, inbound."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.sms.smpp import receipt
from gateway.testing import AUTH, EmulatedModem, say, settled, sql, until
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


async def test_the_link_dropping_mid_batch_loses_no_message_and_sends_none_twice(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc
) -> None:
    client = await start_gateway(
        emulator, modem={"port": "none"}, sms={"retry_base": 0.05, "retry_max": 0.2},
        smpp={"enabled": True, "port": smsc.port, "system_id": "loa", "password": "pw", "reconnect_min": 0.1},
    )  # fmt: skip
    await smsc.order(drop_at=150)  # the 150th submit_sm is never answered: every session is cut there
    to = [f"0912{i:06d}" for i in range(200)]
    resp = await client.post("/api/v1/messages", json={"to": to, "text": VIETNAMESE}, headers=AUTH)
    assert resp.status == 202

    async def delivered() -> bool:
        rows = await sql(client, "select count(*) from outbox where status='delivered'")
        return int(rows[0][0]) == len(to)

    await until(client, delivered)
    taken = Counter((p["to"], p["udh"][0][-4:]) for p in smsc.submits)
    assert len(taken) == 2 * len(to) and set(taken.values()) == {1}  # every part once
    assert len(smsc.submits) == 2 * len(to)


async def test_routing_alerts_everywhere_bulk_through_smpp_replies_the_way_they_came(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc
) -> None:
    emulator.submit_delay = 0.05  # a modem is slow: SMPP takes most of an alert, the modem some
    client = await gateway_on(start_gateway, emulator, smsc)
    alert_to = [f"0912{i:06d}" for i in range(300)]
    resp = await client.post("/api/v1/messages", json={"to": alert_to, "text": "Lũ về, lên chỗ cao ngay",
                                                       "priority": "alert"}, headers=AUTH)  # fmt: skip
    assert resp.status == 202
    await settled(client)
    by_modem = {"0" + p.number[3:] for p in emulator.sent}
    by_smpp = {"0" + p["to"][2:] for p in smsc.submits}
    assert by_modem and by_smpp and by_modem.isdisjoint(by_smpp) and by_modem | by_smpp == set(alert_to)

    before_modem, before_smpp = len(emulator.sent), len(smsc.submits)
    reminder_to = [f"0987{i:06d}" for i in range(10)]
    await client.post("/api/v1/messages", json={"to": reminder_to, "text": "Họp thôn 19h"}, headers=AUTH)
    await settled(client)
    assert len(emulator.sent) == before_modem  # reminders: SMPP only
    assert sorted(p["to"] for p in smsc.submits[before_smpp:]) == ["84" + n[1:] for n in reminder_to]

    # a question by the modem is answered by the modem, one by SMPP through SMPP
    before_smpp = len(smsc.submits)
    answer = await say(client, emulator, "KS", sender="+84961111111")
    assert answer and all(p["to"] != "84961111111" for p in smsc.submits)
    await smsc.order(mo={"from": "84962222222", "to": "1234", "text": "KS"})

    async def answered() -> bool:
        return any(p["to"] == "84962222222" for p in smsc.submits)

    await until(client, answered)
    assert all(p.number != "+84962222222" for p in emulator.sent)
    assert dict(await sql(client, "select sender, via from inbox")) == {
        "+84961111111": "modem 1",
        "+84962222222": "smpp",
    }


@pytest.mark.parametrize("style", ["tlv", "enroute", "bad_date"])
async def test_receipts_as_other_smscs_write_them_are_read_and_never_drop_the_link(
    emulator: EmulatedModem, start_gateway: Any, smsc: Smsc, style: str
) -> None:
    # TLVs only (no text); an ENROUTE receipt before the final one (not a failure); a date that
    # cannot be read (the library's parser raises on it: the link must not drop and come back for ever)
    client = await gateway_on(start_gateway, emulator, smsc)
    await smsc.order(receipts=style)
    to = ["0912000001", "0912000002", "0912000003"]
    resp = await client.post("/api/v1/messages", json={"to": to, "text": "Họp thôn 19h"}, headers=AUTH)
    assert resp.status == 202

    async def delivered() -> bool:
        rows = await sql(client, "select status from outbox")
        return [r[0] for r in rows] == ["delivered"] * 3

    await until(client, delivered)
    health = await (await client.get("/healthz")).json()
    assert [t["connected"] for t in health["transports"]] == [True, True]
    assert len(smsc.submits) == 3  # nothing sent again: the link held


def _deliver_sm(text: bytes, tlvs: dict[int, bytes], esm_class: int = 0x04) -> bytes:
    body = b"\0" + b"\1\1" + b"84912345678\0" + b"\5\0" + b"UBND XA\0" + bytes([esm_class, 0, 0]) + b"\0\0"
    body += bytes([0, 0, 0, 0, len(text)]) + text
    body += b"".join(tag.to_bytes(2, "big") + len(v).to_bytes(2, "big") + v for tag, v in tlvs.items())
    return (16 + len(body)).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(4) + (7).to_bytes(4, "big") + body


@given(
    remote_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=64),
    stat=st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", "REJECTD", "ENROUTE", "ACCEPTD", "delivrd"]),
    in_text=st.booleans(),
)
def test_a_receipt_is_read_from_its_text_or_its_tlvs_whatever_the_id(remote_id: str, stat: str, in_text: bool) -> None:
    expected = {"DELIVRD": True, "ENROUTE": None, "ACCEPTD": None}.get(stat.upper(), False)
    state = {"DELIVRD": 2, "UNDELIV": 5, "EXPIRED": 3, "REJECTD": 8, "ENROUTE": 1, "ACCEPTD": 6}[stat.upper()]
    text = f"id:{remote_id} sub:001 dlvrd:001 submit date:2x done date:?? stat:{stat} err:000 text:".encode()
    tlvs = {0x001E: remote_id.encode() + b"\0", 0x0427: bytes([state])}
    assert receipt(_deliver_sm(text if in_text else b"", tlvs)) == (remote_id, expected)


@given(st.binary(max_size=300))
def test_a_hostile_deliver_sm_is_refused_with_a_value_or_index_error_only(junk: bytes) -> None:
    pdu = (16 + len(junk)).to_bytes(4, "big") + (5).to_bytes(4, "big") + bytes(4) + (9).to_bytes(4, "big") + junk
    try:
        found = receipt(pdu)
    except (ValueError, IndexError):
        return
    assert found is None or isinstance(found[0], str)
