"""Outbound SMS through the real AT layer and the emulated phone: text, parts, folding, reports."""

from __future__ import annotations

import itertools
from typing import Any

from gateway.testing import AUTH, EmulatedModem, sql, until, wait_sent

NUMBER = "+84912345678"


async def send(client: Any, text: str, to: str = "0912345678", **extra: Any) -> dict[str, Any]:
    resp = await client.post("/api/v1/messages", json={"to": [to], "text": text, **extra}, headers=AUTH)
    assert resp.status == 202, await resp.text()
    return dict(await resp.json())


async def status_of(client: Any, message_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/messages/{message_id}", headers=AUTH)
    assert resp.status == 200
    return dict(await resp.json())


async def wait_status(client: Any, message_id: int, *statuses: str) -> dict[str, Any]:
    async def reached() -> bool:
        rows = await sql(client, "select status from outbox where id=?", message_id)
        return rows[0][0] in statuses

    await until(client, reached)
    return await status_of(client, message_id)


async def test_vietnamese_text_arrives_exactly_as_written(gateway: Any, emulator: EmulatedModem) -> None:
    text = "Thông báo: Đăng ký khai sinh tại UBND xã, mang CCCD và giấy chứng sinh."
    sent = await send(gateway, text)
    assert sent["encoding"] == "ucs2" and sent["segments"] == 2 and not sent["folded"]
    (received,) = await wait_sent(emulator, 1)
    assert received.number == NUMBER
    assert received.text == text
    info = await wait_status(gateway, sent["ids"][0], "sent", "delivered")
    assert info["segments"] == 2 and len(info["parts"]) == 2


async def test_300_characters_arrive_as_five_parts(gateway: Any, emulator: EmulatedModem) -> None:
    text = ("Bà con thôn Nà Phìn chú ý: sáng thứ Hai tiêm chủng cho trẻ dưới năm tuổi. " * 5)[:300]
    sent = await send(gateway, text)
    assert sent["segments"] == 5  # UCS-2: 67 characters a part
    (received,) = await wait_sent(emulator, 1)
    assert received.text == text
    assert len(received.references) == 5
    info = await wait_status(gateway, sent["ids"][0], "sent", "delivered")
    assert [p["part"] for p in info["parts"]] == [1, 2, 3, 4, 5]


async def test_gsm7_folding_sends_the_unaccented_form_in_fewer_segments(gateway: Any, emulator: EmulatedModem) -> None:
    text = "Mời bà con thôn Đồng Tâm họp lúc 19h tại nhà văn hóa, mang theo sổ hộ khẩu!!"
    assert len(text) == 76
    accented = await send(gateway, text)
    folded = await send(gateway, text, encoding="gsm7")
    assert accented["segments"] == 2
    assert folded["segments"] == 1 and folded["folded"]
    assert folded["body"] == "Moi ba con thon Dong Tam hop luc 19h tai nha van hoa, mang theo so ho khau!!"
    first, second = await wait_sent(emulator, 2)
    assert first.text == text
    assert second.text == folded["body"] and len(second.references) == 1


async def test_emoji_goes_out_whole(gateway: Any, emulator: EmulatedModem) -> None:
    text = "Chúc mừng năm mới 🎉🧧 " * 5
    sent = await send(gateway, text)
    (received,) = await wait_sent(emulator, 1)
    assert received.text == text.strip() or received.text == text
    assert sent["segments"] == len(received.references)


async def test_three_part_message_is_delivered_only_when_every_part_is(gateway: Any, emulator: EmulatedModem) -> None:
    text = "Lịch tiêm chủng tháng 12 tại trạm y tế xã, mang sổ tiêm và thẻ BHYT của trẻ. " * 2
    sent = await send(gateway, text[:190])
    assert sent["segments"] == 3
    (received,) = await wait_sent(emulator, 1)
    message_id = sent["ids"][0]
    await wait_status(gateway, message_id, "sent")
    refs = received.references
    emulator.report(refs[2])
    emulator.report(refs[0])

    async def two_parts_reported() -> bool:
        rows = await sql(
            gateway,
            "select count(*) from outbox_parts where message_id=? and status='delivered'",
            message_id,
        )
        return int(rows[0][0]) == 2

    await until(gateway, two_parts_reported)
    assert (await status_of(gateway, message_id))["status"] == "sent"
    emulator.report(refs[1])
    info = await wait_status(gateway, message_id, "delivered")
    assert all(p["status"] == "delivered" for p in info["parts"])
    assert info["delivered_at"] is not None


async def test_failed_delivery_report_fails_the_message(gateway: Any, emulator: EmulatedModem) -> None:
    sent = await send(gateway, "Họp thôn lúc 8h")
    (received,) = await wait_sent(emulator, 1)
    await wait_status(gateway, sent["ids"][0], "sent")
    emulator.report(received.references[0], status=0x41)  # incompatible destination
    info = await wait_status(gateway, sent["ids"][0], "failed")
    assert "failed" in info["last_error"]


async def test_cms_error_on_one_number_retries_then_fails_while_others_go_on(
    gateway: Any, emulator: EmulatedModem
) -> None:
    emulator.faults.fail_numbers["+84987000111"] = 500
    bad = await send(gateway, "Tin cho số lỗi", to="0987000111")
    good = [await send(gateway, f"Tin số {i}", to=f"09120000{i:02d}") for i in range(5)]
    info = await wait_status(gateway, bad["ids"][0], "failed")
    assert info["tries"] == 5
    assert "+CMS ERROR: 500" in info["last_error"]
    texts = {m.text for m in await wait_sent(emulator, 5)}
    assert texts == {f"Tin số {i}" for i in range(5)}
    for g in good:
        assert (await wait_status(gateway, g["ids"][0], "sent", "delivered"))["tries"] == 0
    health = await (await gateway.get("/healthz")).json()
    assert health["outbox"]["failed"] == 1


async def test_permanent_error_fails_at_once(gateway: Any, emulator: EmulatedModem) -> None:
    emulator.faults.fail_next = [1]  # unassigned number: trying again cannot help
    sent = await send(gateway, "Xin chào")
    info = await wait_status(gateway, sent["ids"][0], "failed")
    assert info["tries"] == 1


async def test_alerts_go_before_bulk(gateway: Any, emulator: EmulatedModem) -> None:
    emulator.faults.silent = True
    bulk = [await send(gateway, f"Tin chung {i}", priority="bulk") for i in range(3)]
    alert = await send(gateway, "Cảnh báo lũ: sơ tán ngay", priority="alert")
    emulator.faults.silent = False
    messages = await wait_sent(emulator, 4)
    assert len(bulk) == 3 and alert["segments"] == 1
    # whatever was already mid-send when the modem fell silent may go first; the alert beats the rest
    order = [m.text for m in messages]
    assert order.index("Cảnh báo lũ: sơ tán ngay") <= 1


async def test_the_throttle_spaces_messages_out(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, sms={"send_interval": 0.1})
    for i in range(4):
        await send(client, f"Tin {i}")
    await wait_sent(emulator, 4)
    times = [p.at for p in emulator.sent]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.095, gaps
