"""Contacts, CSV import, reminders on an injected clock, and alerts that must be confirmed."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.sms.keys import OUTBOX
from gateway.testing import AUTH, EmulatedModem, FakeClock, routed, settled, sql, to, until
from schedules.keys import SCHEDULER

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=VN).timestamp()


MESSY_CSV = (
    "\ufeffTên,Số điện thoại,Thôn,Vai trò\r\n"
    "Lò Thị Mai,0912 345 678,Nà Phìn,dân\r\n"
    "Vàng A Sử,01691234567,Khau Phạ,trưởng thôn\r\n"
    "Lò Thị Mai,+84912345678,Nà Phìn,y tế thôn\r\n"
    ",0987654321,Pả Vi,dân\r\n"
    "John Smith,+14155550123,Nà Phìn,dân\r\n"
    "Giàng Thị Dua,0966111222\r\n"
    "Hoàng Văn Páo,0977000111,Hà Nội,dân\r\n"
    "\r\n"
).encode()


async def test_a_messy_csv_imports_the_right_rows_and_says_why_not_the_others(gateway: Any) -> None:
    resp = await gateway.post("/api/v1/contacts/import", data=MESSY_CSV, headers=AUTH)
    assert resp.status == 200, await resp.text()
    report = await resp.json()
    assert report["imported"] == 2 and report["merged"] == 1
    assert report["converted"] == [{"line": 3, "from": "01691234567", "to": "+84391234567"}]
    reasons = {r["line"]: r["reason"] for r in report["rejected"]}
    assert set(reasons) == {5, 6, 7, 8}
    assert reasons[5] == "thiếu tên"
    assert "di động Việt Nam" in reasons[6]
    assert reasons[7].startswith("thiếu cột")
    assert "Hà Nội" in reasons[8]
    contacts = (await (await gateway.get("/api/v1/contacts", headers=AUTH)).json())["contacts"]
    assert [(c["name"], c["number"], c["hamlet"], c["roles"]) for c in contacts] == [
        ("Lò Thị Mai", "+84912345678", "Nà Phìn", ["resident", "health_worker"]),
        ("Vàng A Sử", "+84391234567", "Khau Phạ", ["hamlet_head"]),
    ]


async def test_a_file_without_the_needed_columns_imports_nothing(gateway: Any) -> None:
    resp = await gateway.post("/api/v1/contacts/import", data=b"a,b\n1,2\n", headers=AUTH)
    assert resp.status == 400
    assert "Số điện thoại" in (await resp.json())["error"]
    assert await sql(gateway, "select * from contacts") == []


async def add(client: Any, name: str, number: str, hamlet: str, roles: list[str] | None = None) -> None:
    body = {"name": name, "number": number, "hamlet": hamlet, "roles": roles or ["resident"]}
    resp = await client.post("/api/v1/contacts", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(at(2026, 12, 4, 10, 0))


async def test_a_monthly_reminder_fires_on_its_day_per_person(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock)
    await add(client, "Lò Thị Mai", "0912000001", "Nà Phìn")
    await add(client, "Giàng Thị Dua", "0912000002", "Nà Phìn")
    await add(client, "Vàng Thị Lan", "0912000003", "Nà Phìn")
    await add(client, "Sùng A Páo", "0912000004", "Khau Phạ")
    emulator.deliver("+84912000003", "HUY")  # Lan opted out
    await routed(client, 1)
    # Dua already had three routine messages today: the daily cap
    for i in range(3):
        resp = await client.post("/api/v1/messages", json={"to": "0912000002", "text": f"Tin {i}"}, headers=AUTH)
        assert resp.status == 202
    await settled(client)
    reminder = {
        "text": "Chào {ten}, thôn {thon}: tiêm chủng cho trẻ ngày {ngay} tại trạm y tế xã.",
        "to": {"hamlets": ["Nà Phìn"]},
        "when": {"monthly": {"day": 5, "time": "08:00"}},
    }
    resp = await client.post("/api/v1/reminders", json=reminder | {"dry_run": True}, headers=AUTH)
    preview = await resp.json()
    assert preview["recipients"] == 2 and preview["opted_out"] == 1 and preview["capped_now"] == 1
    assert preview["segments"] == 4 and preview["cost"] == 4 * 350
    assert preview["next_fire_at"] == at(2026, 12, 5, 8, 0)
    resp = await client.post("/api/v1/reminders", json=reminder, headers=AUTH)
    assert resp.status == 201
    await client.app[SCHEDULER].run_due()
    await settled(client)
    assert to(emulator, "+84912000001") == []  # not yet: it is the 4th

    await client.app[SCHEDULER].advance(at(2026, 12, 5, 8, 0, 5))
    await settled(client)
    (mai,) = to(emulator, "+84912000001")
    assert mai.text == "Chào Lò Thị Mai, thôn Nà Phìn: tiêm chủng cho trẻ ngày 05/12/2026 tại trạm y tế xã."
    (stopped,) = to(emulator, "+84912000003")  # Lan: the HUY confirmation, and nothing since
    assert stopped.text.startswith("Đã ngừng nhận tin của xã")
    assert len(to(emulator, "+84912000002")) == 3  # only the three earlier ones
    (listed,) = (await (await client.get("/api/v1/reminders", headers=AUTH)).json())["reminders"]
    (run,) = listed["runs"]
    assert (run["queued"], run["opted_out"], run["capped"], run["deferred"]) == (1, 1, 1, 0)
    assert listed["next_fire_at"] == at(2027, 1, 5, 8, 0)


async def test_routine_messages_wait_out_the_quiet_hours(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock)
    await add(client, "Lò Thị Mai", "0912000001", "Nà Phìn")
    clock.now = at(2026, 12, 5, 21, 30)
    resp = await client.post(
        "/api/v1/reminders", json={"text": "Mai họp thôn lúc 8h", "to": {"hamlets": ["Nà Phìn"]}}, headers=AUTH
    )
    assert resp.status == 201
    rows = await sql(client, "select next_attempt_at from outbox where source like 'reminder:%'")
    assert rows == [(at(2026, 12, 6, 7, 0),)]
    assert to(emulator, "+84912000001") == []
    clock.now = at(2026, 12, 6, 7, 0, 1)
    client.app[OUTBOX].wake()
    await settled(client)
    (message,) = to(emulator, "+84912000001")
    assert message.text == "Mai họp thôn lúc 8h"


async def test_a_missed_reminder_after_a_long_outage_is_logged_not_sent(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock)
    await add(client, "Lò Thị Mai", "0912000001", "Nà Phìn")
    resp = await client.post(
        "/api/v1/reminders",
        json={"text": "Nộp thuế", "to": {"hamlets": ["Nà Phìn"]}, "when": {"at": "2026-12-05T08:00"}},
        headers=AUTH,
    )
    assert resp.status == 201
    await client.app[SCHEDULER].advance(at(2026, 12, 6, 9, 0))  # the power came back a day later
    (listed,) = (await (await client.get("/api/v1/reminders", headers=AUTH)).json())["reminders"]
    assert listed["status"] == "done" and listed["runs"][0]["status"] == "missed"
    assert await sql(client, "select * from outbox") == []


HEADS = [
    ("Vàng A Sử", "+84912100001", "Nà Phìn"),
    ("Lò Văn Chung", "+84912100002", "Khau Phạ"),
    ("Giàng A Dình", "+84912100003", "Khau Vai"),
    ("Sùng Mí Chá", "+84912100004", "Pả Vi"),
    ("Thào A Lử", "+84912100005", "Lũng Cú"),
]
OFFICIAL = "+84988000999"


async def reply(client: Any, emulator: EmulatedModem, number: str, text: str) -> None:
    count = int((await sql(client, "select count(*) from inbox"))[0][0])
    emulator.deliver(number, text)
    await routed(client, count + 1)
    await settled(client)


async def board(client: Any, alert_id: int) -> dict[str, Any]:
    resp = await client.get(f"/api/v1/alerts/{alert_id}", headers=AUTH)
    assert resp.status == 200
    return dict(await resp.json())


async def test_an_alert_to_five_hamlet_heads_is_confirmed_resent_and_escalated(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock, sms={"encoding": "auto"})
    for name, number, hamlet in HEADS:
        await add(client, name, number, hamlet, ["hamlet_head"])
    clock.now = at(2026, 12, 5, 23, 0)  # alerts ignore quiet hours
    resp = await client.post(
        "/api/v1/alerts",
        json={
            "text": "Cảnh báo lũ: nước suối dâng nhanh, sơ tán các hộ ven suối ngay.",
            "to": {"roles": ["hamlet_head"]},
            "confirm_minutes": 30,
            "escalate_to": OFFICIAL,
        },
        headers=AUTH,
    )
    assert resp.status == 201
    alert = (await resp.json())["id"]
    await settled(client)
    for _, number, _ in HEADS:
        (message,) = to(emulator, number)
        assert message.text.endswith("Trả lời OK để xác nhận đã nhận.")
    for _, number, _ in HEADS[:3]:
        await reply(client, emulator, number, "OK")
    assert (await board(client, alert))["summary"] == {
        "recipients": 5,
        "sent": 5,
        "delivered": 0,
        "confirmed": 3,
        "resent": 0,
        "escalated": 0,
    }

    await client.app[SCHEDULER].advance(clock.now + 30 * 60)
    await settled(client)
    for _, number, _ in HEADS[3:]:
        assert to(emulator, number)[-1].text.startswith("Nhắc lại: Cảnh báo lũ")
    await reply(client, emulator, HEADS[3][1], "ok")

    await client.app[SCHEDULER].advance(clock.now + 30 * 60)
    await settled(client)
    (escalation,) = to(emulator, OFFICIAL)
    # what the alert said, so the official on the road knows what is at stake, then who is silent
    assert escalation.text == (
        f'Cảnh báo {alert} "Cảnh báo lũ: nước suối dâng nhanh, sơ tán các hộ ven suối ngay."'
        " chưa được xác nhận bởi: Thào A Lử +84912100005"
    )
    result = await board(client, alert)
    assert result["summary"] == {
        "recipients": 5,
        "sent": 5,
        "delivered": 0,
        "confirmed": 4,
        "resent": 2,
        "escalated": 1,
    }
    by_name = {p["name"]: p for p in result["recipients"]}
    assert by_name["Sùng Mí Chá"]["confirmed_at"] and by_name["Sùng Mí Chá"]["resent_at"]
    assert by_name["Thào A Lử"]["confirmed_at"] is None and by_name["Thào A Lử"]["escalated_at"]
    assert by_name["Vàng A Sử"]["resent_at"] is None


async def test_two_open_alerts_to_one_head_are_told_apart_by_code(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock)
    name, number, hamlet = HEADS[0]
    await add(client, name, number, hamlet, ["hamlet_head"])
    ids = []
    for text in ("Họp khẩn 14h tại UBND xã.", "Sạt lở đường lên bản, cấm xe qua."):
        resp = await client.post("/api/v1/alerts", json={"text": text, "to": {"numbers": [number]}}, headers=AUTH)
        ids.append((await resp.json())["id"])
    await settled(client)
    first, second = to(emulator, number)
    assert first.text.endswith("Trả lời OK để xác nhận đã nhận.")
    assert second.text.endswith(f"Trả lời OK {ids[1]} để xác nhận đã nhận.")
    await reply(client, emulator, number, "OK")
    assert to(emulator, number)[-1].text == f"Có 2 cảnh báo chờ xác nhận: nhắn OK {ids[0]} hoặc OK {ids[1]}"
    await reply(client, emulator, number, f"ok {ids[1]}")
    assert (await board(client, ids[1]))["summary"]["confirmed"] == 1
    assert (await board(client, ids[0]))["summary"]["confirmed"] == 0
    await reply(client, emulator, number, "OK.")
    assert (await board(client, ids[0]))["summary"]["confirmed"] == 1


async def test_a_hamlet_heads_missed_call_confirms_the_alert_and_is_texted_back(
    tmp_path: Any, start_gateway: Any, clock: FakeClock
) -> None:
    """Gọi nháy: the head rings the commune's LTE module, which hangs up (free for the caller); the
    alert is confirmed as OK would confirm it and the head is told by SMS; a stranger's call is only hung up."""
    emulator = EmulatedModem("ec25", link_dir=tmp_path)
    await emulator.start()
    try:
        client = await start_gateway(emulator, clock=clock)
        (name, number, hamlet), (other, stranger, elsewhere) = HEADS[0], HEADS[1]
        await add(client, name, number, hamlet, ["hamlet_head"])
        await add(client, other, stranger, elsewhere, ["hamlet_head"])
        body = {"text": "Lũ quét ở suối Nà Phìn.", "to": {"numbers": [number]}}
        resp = await client.post("/api/v1/alerts", json=body, headers=AUTH)
        alert = (await resp.json())["id"]
        await settled(client)
        hung = asyncio.Event()
        emulator.on_command = lambda line: hung.set() if line in ("AT+CHUP", "ATH") else None
        emulator.ring(stranger)  # no alert waits for this head: hung up, nothing confirmed, nothing sent
        async with asyncio.timeout(10):
            await hung.wait()
        emulator.ring(number)

        async def confirmed() -> bool:
            return bool((await board(client, alert))["summary"]["confirmed"] == 1)

        await until(client, confirmed)
        await settled(client)
        assert to(emulator, number)[-1].text == f"Đã nhận xác nhận cảnh báo {alert} (qua cuộc gọi nháy). Cảm ơn."
        assert to(emulator, stranger) == [] and emulator.hung_up == 2
        assert (await board(client, alert))["summary"]["confirmed"] == 1
    finally:
        await emulator.close()


async def test_templates_take_the_named_fields_only_without_a_format(gateway: Any) -> None:
    for text in ("Chào {ten:>1000000000}", "Chào {ten!r}", "Chào {0}", "Chào {ho}"):
        body = {"text": text, "to": {"hamlets": ["Nà Phìn"]}, "dry_run": True}
        resp = await gateway.post("/api/v1/reminders", json=body, headers=AUTH)
        assert resp.status == 400, text
        assert (await resp.json())["field"] == "text"


async def test_confirm_minutes_must_be_a_real_number_of_minutes(gateway: Any) -> None:
    await add(gateway, "Vàng A Sử", "0912100001", "Nà Phìn", ["hamlet_head"])
    for minutes in ("NaN", "Infinity", "-5", "0", "1e9", "true"):
        data = f'{{"text": "Lũ về", "to": {{"hamlets": ["Nà Phìn"]}}, "confirm_minutes": {minutes}}}'
        resp = await gateway.post("/api/v1/alerts", data=data, headers=AUTH | {"Content-Type": "application/json"})
        assert resp.status == 400, minutes
        assert (await resp.json())["field"] == "confirm_minutes"
    assert await sql(gateway, "select * from alerts") == []


async def test_a_reminder_too_long_to_send_is_refused_before_it_is_saved(gateway: Any) -> None:
    await add(gateway, "Lò Thị Mai", "0912000001", "Nà Phìn")
    body = {"text": "Thông báo rất dài " * 60, "to": {"hamlets": ["Nà Phìn"]}}
    resp = await gateway.post("/api/v1/reminders", json=body, headers=AUTH)
    assert resp.status == 400 and "quá dài" in (await resp.json())["error"]
    assert await sql(gateway, "select * from reminders") == []


async def test_one_reminder_that_cannot_fire_does_not_stop_the_others(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock)
    await add(client, "Lò Thị Mai", "0912000001", "Nà Phìn")
    for text in ("Họp thôn tối nay", "Nộp thuế trước ngày 15"):
        body = {"text": text, "to": {"hamlets": ["Nà Phìn"]}, "when": {"at": "2026-12-04T11:00"}}
        assert (await client.post("/api/v1/reminders", json=body, headers=AUTH)).status == 201
    # the first one's target names a hamlet that is gone by the time it fires
    await sql(client, "update reminders set target=? where template=?", '{"hamlets": ["Bản Cũ"]}', "Họp thôn tối nay")
    await client.app[SCHEDULER].advance(at(2026, 12, 4, 11, 0, 1))
    await settled(client)
    assert [m.text for m in to(emulator, "+84912000001")] == ["Nộp thuế trước ngày 15"]
    listed = {r["text"]: r for r in (await (await client.get("/api/v1/reminders", headers=AUTH)).json())["reminders"]}
    assert listed["Họp thôn tối nay"]["status"] == "failed"
    assert "Bản Cũ" in listed["Họp thôn tối nay"]["last_error"]
    assert listed["Nộp thuế trước ngày 15"]["status"] == "done"


async def test_an_alert_row_no_check_can_use_is_marked_and_the_others_are_followed_up(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock
) -> None:
    client = await start_gateway(emulator, clock=clock)
    await add(client, "Vàng A Sử", "0912100001", "Nà Phìn", ["hamlet_head"])
    await add(client, "Lò Văn Páo", "0912100002", "Khau Phạ", ["hamlet_head"])
    ids = []
    for hamlet in ("Nà Phìn", "Khau Phạ"):
        body = {"text": f"Lũ về {hamlet}", "to": {"hamlets": [hamlet]}, "confirm_minutes": 30}
        resp = await client.post("/api/v1/alerts", json=body, headers=AUTH)
        ids.append((await resp.json())["id"])
    await settled(client)
    # written by an older version that took NaN: stored as null
    await sql(client, "update alerts set confirm_minutes=null where id=?", ids[0])
    await client.app[SCHEDULER].advance(clock.now + 31 * 60)
    await settled(client)
    assert to(emulator, "+84912100002")[-1].text.startswith("Nhắc lại: Lũ về Khau Phạ")
    assert (await sql(client, "select status from alerts where id=?", ids[0])) == [("failed",)]
