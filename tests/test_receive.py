"""Inbound SMS: stored once, parts reassembled, duplicates dropped, bad PDUs kept aside."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gateway.testing import AUTH, EmulatedModem, count, deliver_pdus, inbox, sql, until, wait_inbox

RESIDENT = "+84961234567"


async def test_multipart_vietnamese_sms_is_stored_once_reassembled(gateway: Any, emulator: EmulatedModem) -> None:
    text = "Cho em hỏi làm giấy khai sinh cho con cần những giấy tờ gì ạ, lệ phí bao nhiêu, " * 3
    pdus = emulator.deliver(RESIDENT, text)
    assert len(pdus) == 4
    (message,) = await wait_inbox(gateway, 1, AUTH)
    assert message["from"] == RESIDENT
    assert message["text"] == text
    assert message["parts"] == 4 and not message["partial"]

    async def modem_emptied() -> bool:
        return emulator.stored == 0

    await until(gateway, modem_emptied)


async def test_the_same_pdu_delivered_twice_is_stored_once(gateway: Any, emulator: EmulatedModem) -> None:
    (pdu,) = deliver_pdus(RESIDENT, "KS")
    emulator.deliver_pdu(pdu)
    emulator.deliver_pdu(pdu)
    emulator.deliver(RESIDENT, "HUY")  # a later message proves both copies were handled

    async def handled() -> bool:
        return await count(client=gateway, table="seen_pdus") >= 2 and emulator.stored == 0

    await until(gateway, handled)
    assert [m["text"] for m in await inbox(gateway, AUTH)] == ["HUY", "KS"]


async def test_parts_arriving_out_of_order_and_twice(gateway: Any, emulator: EmulatedModem) -> None:
    text = "Xã ơi, đường lên bản Khau Phạ bị sạt lở đoạn gần suối, xe máy không qua được. " * 2
    pdus = deliver_pdus(RESIDENT, text, reference=77)
    for pdu in [pdus[2], pdus[0], pdus[0], pdus[1]]:
        emulator.deliver_pdu(pdu)
    (message,) = await wait_inbox(gateway, 1, AUTH)
    assert message["text"] == text


async def test_an_emoji_cut_between_two_parts_is_whole_again(gateway: Any, emulator: EmulatedModem) -> None:
    # 66 letters then an emoji: a naive splitter at 67 UTF-16 units cuts the surrogate pair
    text = "a" * 66 + "😀" + "ồ" * 10
    units = text.encode("utf-16-be")
    part1 = units[: 67 * 2].decode("utf-16-be", "surrogatepass")
    part2 = units[67 * 2 :].decode("utf-16-be", "surrogatepass")
    assert "\ud83d" in part1
    pdus = [
        deliver_pdus(RESIDENT, "ồ", reference=5)[0],  # unrelated, to keep order honest
    ]
    # build the two halves with a concatenation header of our own
    split_pdus = _two_part_ucs2(RESIDENT, part1, part2, reference=9)
    for pdu in [*pdus, *split_pdus]:
        emulator.deliver_pdu(pdu)
    messages = await wait_inbox(gateway, 2, AUTH)
    assert messages[0]["text"] == text


def _two_part_ucs2(sender: str, part1: str, part2: str, reference: int) -> list[str]:
    from datetime import datetime

    from gsmmodem.pdu import _encodeAddressField, _encodeTimestamp

    out = []
    for i, part in enumerate([part1, part2], start=1):
        pdu = bytearray(_encodeAddressField("+84980200030", smscField=True))
        pdu.append(0x44)
        pdu += _encodeAddressField(sender)
        pdu += bytes([0x00, 0x08])
        pdu += _encodeTimestamp(datetime.now().astimezone())
        ud = bytes([5, 0, 3, reference, 2, i]) + part.encode("utf-16-be", "surrogatepass")
        pdu.append(len(ud))
        pdu += ud
        out.append(bytes(pdu).hex().upper())
    return out


async def test_a_part_that_never_comes_leaves_a_partial_message(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, sms={"reassembly_timeout": 0.2})
    text = "Thôn Pả Vi báo: cây đổ chắn đường liên thôn, cần người hỗ trợ dọn dẹp gấp. " * 2
    pdus = deliver_pdus(RESIDENT, text, reference=31)
    emulator.deliver_pdu(pdus[0])
    (message,) = await wait_inbox(client, 1, AUTH)
    assert message["partial"]
    assert message["text"].startswith(text[:60])
    assert "thiếu phần 2, 3/3" in message["text"]


async def test_messages_left_on_the_modem_are_swept_at_start(emulator: EmulatedModem, start_gateway: Any) -> None:
    # stored while the gateway was down; their +CMTI went nowhere
    emulator.deliver(RESIDENT, "HD")
    emulator.deliver("+84351234567", "DK Nà Phìn")
    client = await start_gateway(emulator)
    messages = await wait_inbox(client, 2, AUTH)
    assert sorted(m["text"] for m in messages) == ["DK Nà Phìn", "HD"]


async def test_a_bad_pdu_is_kept_aside_and_the_gateway_goes_on(gateway: Any, emulator: EmulatedModem) -> None:
    emulator.deliver_pdu("07914889000203F0040B91")  # cut short
    emulator.deliver_pdu("NOT-A-PDU")
    emulator.garbage()
    emulator.deliver(RESIDENT, "Xin chào xã")
    (message,) = await wait_inbox(gateway, 1, AUTH)
    assert message["text"] == "Xin chào xã"

    async def rejected() -> bool:
        return await count(gateway, "inbox_rejects") == 2 and emulator.stored == 0

    await until(gateway, rejected)
    errors = [r[0] for r in await sql(gateway, "select error from inbox_rejects")]
    assert all("undecodable PDU" in e or "expected" in e for e in errors)


async def test_chatter_and_garbage_between_commands_do_not_confuse_the_reader(
    gateway: Any, emulator: EmulatedModem
) -> None:
    def noisy(line: str) -> None:
        if line.startswith("AT+CMG"):
            emulator.chatter()
            emulator.garbage(b"\xc3\x28\r\n")

    emulator.on_command = noisy
    for i in range(5):
        emulator.deliver(RESIDENT, f"Câu hỏi {i}")
    messages = await wait_inbox(gateway, 5, AUTH)
    assert sorted(m["text"] for m in messages) == [f"Câu hỏi {i}" for i in range(5)]


async def test_two_readers_of_one_index_never_delete_a_newer_message(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    # A arrives just as the start-up sweep lists the SIM: its +CMTI and the sweep both read index 1.
    # The modem reuses a freed index at once, so a reader deleting "index 1" after the other one
    # had would remove B, which arrived in between and lives there unread.
    loop = asyncio.get_running_loop()
    steps: dict[str, Callable[[], object]] = {
        "AT+CMGL": lambda: emulator.deliver(RESIDENT, "A: tin thứ nhất"),
        "AT+CMGD": lambda: loop.call_soon(emulator.deliver, RESIDENT, "B: tin thứ hai"),
    }

    def on_command(line: str) -> None:
        for prefix in list(steps):
            if line.startswith(prefix):
                steps.pop(prefix)()

    emulator.on_command = on_command
    client = await start_gateway(emulator)
    messages = await wait_inbox(client, 2, AUTH)
    assert sorted(m["text"] for m in messages) == ["A: tin thứ nhất", "B: tin thứ hai"]
