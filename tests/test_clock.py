"""The Pi's clock has no battery: reminders and announcements wait while it is known to be wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from audio.player import RecordingPlayer
from gateway.sms import clock_trust
from gateway.sms.clock_trust import ClockTrust
from gateway.sms.transport import TransportInfo
from gateway.testing import AUTH, EmulatedModem, FakeClock, at, sql, until, wait_sent
from schedules.keys import SCHEDULER


async def clock_status(client: Any) -> dict[str, Any]:
    body: dict[str, Any] = await (await client.get("/healthz")).json()
    return body


async def test_a_clock_hours_behind_holds_plays_and_reminders_and_nothing_fires_early_or_late(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an office without internet: no NTP, whatever the machine running the test has
    monkeypatch.setattr(clock_trust, "NTP_SYNCHRONISED", tmp_path / "no-ntp")
    # after a power cut the Pi boots with the time it last saved: 10:00, while it is 15:00
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    player = RecordingPlayer()
    client = await start_gateway(
        emulator, clock=clock, player=player, modem={"poll_interval": 0.2}, broadcasts={"misfire_grace": 600}
    )
    emulator.network_time = lambda: clock.now + 5 * 3600

    async def untrusted() -> bool:
        return not (await clock_status(client))["clock"]["trusted"]

    await until(client, untrusted)
    health = await clock_status(client)
    assert health["status"] == "degraded"
    assert health["clock"]["reason"].startswith("giờ máy lệch +300 phút") and health["clock"]["network_offset_s"]
    contact = {"name": "Lò Thị Mai", "number": "0912000001", "hamlet": "Nà Phìn"}
    assert (await client.post("/api/v1/contacts", json=contact, headers=AUTH)).status == 201
    reminder = {"text": "Họp thôn", "to": {"hamlets": ["Nà Phìn"]}, "when": {"at": "2026-12-07T10:05"}}
    assert (await client.post("/api/v1/reminders", json=reminder, headers=AUTH)).status == 201
    made = await client.post(
        "/api/v1/announcements",
        json={"text": "Họp thôn", "repeat": 1, "when": {"at": "2026-12-07T10:10"}},
        headers=AUTH,
    )
    announcement = (await made.json())["id"]
    assert (await client.post(f"/api/v1/announcements/{announcement}/approve", headers=AUTH)).status == 200

    # by the Pi's clock both are due; by the real time they were due hours ago: neither goes
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 10, 6))
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 10, 11))
    assert await sql(client, "select count(*) from outbox") == [(0,)]
    assert player.plays == [] and await sql(client, "select count(*) from broadcast_log") == [(0,)]
    assert client.app[SCHEDULER].held is not None

    # the clock is put right (NTP came back, or a person set it): the missed ones are logged missed
    clock.set(at(2026, 12, 7, 15, 0))
    emulator.network_time = clock

    async def trusted() -> bool:
        return bool((await clock_status(client))["clock"]["trusted"])

    await until(client, trusted)
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 15, 0))
    assert await sql(client, "select count(*) from outbox") == [(0,)]
    assert await sql(client, "select result from broadcast_log") == [("missed",)]
    # and what is due from now on goes at its time
    later = reminder | {"when": {"at": "2026-12-07T15:05"}}
    assert (await client.post("/api/v1/reminders", json=later, headers=AUTH)).status == 201
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 15, 4, 59))
    assert await sql(client, "select count(*) from outbox") == [(0,)]
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 15, 5))
    assert [m.number for m in await wait_sent(emulator, 1)] == ["+84912000001"]


def test_without_network_time_a_clock_behind_the_last_record_is_not_trusted(tmp_path: Path) -> None:
    class NoNetworkTime:
        info = TransportInfo()

    clock = FakeClock(at(2026, 12, 7, 10, 0))
    trust = ClockTrust(clock, NoNetworkTime(), ntp_flag=tmp_path / "synchronized")  # type: ignore[arg-type]
    trust.floor = at(2026, 12, 7, 14, 0)  # the database recorded something at 14:00
    assert not trust.status().trusted and "lùi" in trust.status().reason
    clock.set(at(2026, 12, 7, 14, 30))
    assert trust.status().trusted and "chưa kiểm được" in trust.status().reason
    (tmp_path / "synchronized").touch()
    assert trust.status().reason.startswith("đồng bộ NTP")
    clock.set(at(2026, 12, 7, 10, 0))
    assert trust.status().trusted  # NTP's word beats the database's floor and the modem


def test_with_permission_a_clock_the_network_contradicts_is_set_from_it(tmp_path: Path) -> None:
    class NetworkAhead:
        info = TransportInfo(network_offset=5 * 3600.0)

    clock = FakeClock(at(2026, 12, 7, 10, 0))
    trust = ClockTrust(clock, NetworkAhead(), ntp_flag=tmp_path / "none", set_clock=clock.set)  # type: ignore[arg-type]
    assert trust.hold() is not None  # held this time; the clock was set meanwhile
    assert clock.now == at(2026, 12, 7, 15, 0)
    clock.set(at(2026, 12, 7, 16, 0))
    trust.hold()  # the same reading of the network time: not set twice
    assert clock.now == at(2026, 12, 7, 16, 0)


def test_the_floor_is_what_a_verified_clock_saw_not_what_a_wrong_clock_wrote(tmp_path: Path) -> None:
    import sqlite_utils

    from gateway.sms.migrations import MIGRATIONS

    db = sqlite_utils.Database(tmp_path / "loa.sqlite3")
    for _, migrate in MIGRATIONS:
        migrate(db)
    # a clock an hour ahead, unchecked, wrote a message at 15:00 while it was 14:00
    wrong = at(2026, 12, 7, 15, 0)
    db.execute("insert into inbox (sender, text, received_at) values ('+84961234567', 'Hỏi', ?)", [wrong])
    assert clock_trust.latest_record(db) == 0.0
    clock_trust.note_verified(db, at(2026, 12, 7, 13, 0))  # the network's time agreed at 13:00
    assert clock_trust.latest_record(db) == at(2026, 12, 7, 13, 0)

    class NoNetworkTime:
        info = TransportInfo()

    clock = FakeClock(at(2026, 12, 7, 14, 2))  # the right time, nothing to check it against
    trust = ClockTrust(clock, NoNetworkTime(), ntp_flag=tmp_path / "none")  # type: ignore[arg-type]
    trust.floor = clock_trust.latest_record(db)
    assert trust.status().trusted
    clock.set(at(2026, 12, 7, 9, 0))  # after a power cut, hours behind what was verified
    assert not trust.status().trusted
