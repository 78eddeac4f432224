"""Scheduled loudspeaker plays on an injected clock, with the recording player and relay."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from audio.player import RecordingPlayer
from broadcasts.keys import ANNOUNCER
from gateway.testing import AUTH, VN, EmulatedModem, FakeClock, at, sql, until
from schedules.keys import SCHEDULER


async def announce(client: Any, **body: Any) -> int:
    resp = await client.post("/api/v1/announcements", json={"text": "Họp thôn lúc 19h", "repeat": 1} | body,
                             headers=AUTH)  # fmt: skip
    assert resp.status == 201, await resp.text()
    announcement_id = int((await resp.json())["id"])
    resp = await client.post(f"/api/v1/announcements/{announcement_id}/approve", headers=AUTH)
    assert resp.status == 200, await resp.text()
    return announcement_id


async def log(client: Any) -> list[tuple[Any, ...]]:
    return await sql(client, "select announcement_id, planned_at, result, relay from broadcast_log order by id")


async def settle(client: Any, rows: int) -> list[tuple[Any, ...]]:
    """Wait until the log has `rows` rows and none is still playing."""

    async def done() -> bool:
        found = await log(client)
        return len(found) >= rows and all(r[2] != "playing" for r in found)

    await until(client, done)
    return await log(client)


async def test_a_one_off_plays_once_at_its_time(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 12, 7, 6, 0))
    player = RecordingPlayer()
    client = await start_gateway(emulator, clock=clock, player=player)
    a = await announce(client, when={"at": "2026-12-07T07:30"})
    await client.app[SCHEDULER].run_due()
    assert player.plays == []
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 7, 30, 1))
    assert await settle(client, 1) == [(a, at(2026, 12, 7, 7, 30), "played", "on→off")]
    await client.app[SCHEDULER].advance(clock.now + 3600)
    assert len(player.plays) == 1
    relay = client.app[ANNOUNCER].station.relay
    assert relay.states == [False, True, False]  # off at start, then on and off around the play
    listed = await (await client.get("/api/v1/announcements", headers=AUTH)).json()
    assert listed["announcements"][0]["status"] == "done"


async def test_a_weekly_one_plays_on_the_right_days(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 11, 30, 6, 0))  # a Monday
    player = RecordingPlayer()
    client = await start_gateway(emulator, clock=clock, player=player)
    await announce(client, when={"weekly": {"days": ["mon", "thu"], "time": "07:00"}}, ends_on="2026-12-13")
    played_on = []
    day = datetime(2026, 11, 30, 7, 0, 2, tzinfo=VN)
    for _ in range(21):
        clock.now = day.timestamp()
        before = len(player.plays)
        await asyncio.gather(*await client.app[SCHEDULER].run_due())
        if len(player.plays) > before:
            played_on.append(day.strftime("%a %d/%m"))
        day += timedelta(days=1)
    assert played_on == ["Mon 30/11", "Thu 03/12", "Mon 07/12", "Thu 10/12"]


async def test_after_a_three_hour_outage_what_is_in_grace_plays_late_the_rest_is_missed(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 7, 7, 50))
    client = await start_gateway(emulator, clock=clock, schedules={"grace": 300})
    hourly = await announce(client, when={"cron": "0 * * * *"}, ends_on="2026-12-07")
    early = await announce(client, when={"at": "2026-12-07T08:30"})
    recent = await announce(client, when={"at": "2026-12-07T11:05"})
    await asyncio.gather(*await client.app[SCHEDULER].advance(at(2026, 12, 7, 8, 0)))
    assert [(r[0], r[2]) for r in await settle(client, 1)] == [(hourly, "played")]
    await client.close()  # the power goes after 08:00 and comes back at 11:10

    clock.now = at(2026, 12, 7, 11, 10)
    player = RecordingPlayer()
    client = await start_gateway(emulator, clock=clock, player=player, schedules={"grace": 300})
    rows = (await settle(client, 6))[1:]
    results = {(a, datetime.fromtimestamp(t, VN).strftime("%H:%M"), r) for a, t, r, _ in rows}
    assert results == {
        (hourly, "09:00", "missed"),
        (hourly, "10:00", "missed"),
        (hourly, "11:00", "missed"),  # 10 minutes late: past the grace window of 5
        (early, "08:30", "missed"),
        (recent, "11:05", "late"),
    }
    assert len(player.plays) == 1
    (next_play,) = await sql(client, "select next_play_at from announcements where id=?", hourly)
    assert next_play[0] == at(2026, 12, 7, 12, 0)


async def test_khan_cap_interrupts_a_long_announcement(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 12, 7, 9, 0))
    player = RecordingPlayer(hold=asyncio.Event())
    client = await start_gateway(emulator, clock=clock, player=player)
    long_one = await announce(client, text="Thông báo dài về lịch nộp thuế đất năm 2026")
    async with asyncio.timeout(10):
        await player.started.wait()
    emergency = await announce(client, text="Khẩn cấp: lũ quét, sơ tán ngay", priority="khan_cap")

    async def interrupted() -> bool:
        rows = await log(client)
        return bool(rows) and rows[0][2] == "interrupted"

    await until(client, interrupted)
    assert (await log(client))[0][:3] == (long_one, at(2026, 12, 7, 9, 0), "interrupted")
    assert player.plays[0]["result"] == "interrupted"
    player.hold.set()  # type: ignore[union-attr]
    rows = await settle(client, 2)
    assert [(r[0], r[2]) for r in rows] == [(long_one, "interrupted"), (emergency, "played")]
    assert client.app[ANNOUNCER].station.relay.states == [False, True, False, True, False]  # off at start


async def test_the_relay_is_off_after_a_player_that_raised(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 12, 7, 9, 0))
    client = await start_gateway(emulator, clock=clock, player=RecordingPlayer(fail=True))
    a = await announce(client)
    rows = await settle(client, 1)
    assert rows == [(a, at(2026, 12, 7, 9, 0), "failed", "on→off")]
    (error,) = await sql(client, "select error from broadcast_log")
    assert "amplifier output failed" in error[0]
    assert client.app[ANNOUNCER].station.relay.on is False


async def test_an_alert_can_also_sound_on_the_loudspeakers(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 12, 7, 23, 0))
    player = RecordingPlayer()
    client = await start_gateway(emulator, clock=clock, player=player)
    resp = await client.post(
        "/api/v1/contacts",
        json={"name": "Vàng A Sử", "number": "0912100001", "hamlet": "Nà Phìn", "roles": ["hamlet_head"]},
        headers=AUTH,
    )
    assert resp.status == 201
    resp = await client.post(
        "/api/v1/alerts",
        json={"text": "Lũ quét ở suối Nà Phìn, sơ tán ngay", "to": {"hamlets": ["Nà Phìn"]}, "loudspeaker": True},
        headers=AUTH,
    )
    assert resp.status == 201
    announcement = (await resp.json())["announcement"]
    rows = await settle(client, 1)
    assert rows[0][0] == announcement and rows[0][2] == "played"
    (zones,) = await sql(client, "select zones, priority from announcements where id=?", announcement)
    assert zones == ('["Nà Phìn"]', "khan_cap")


async def test_an_announcement_whose_rule_cannot_be_read_does_not_stop_the_others(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 7, 6, 0))
    player = RecordingPlayer()
    client = await start_gateway(emulator, clock=clock, player=player)
    bad = await announce(client, when={"at": "2026-12-07T07:00"})
    good = await announce(client, when={"at": "2026-12-07T07:00"})
    await sql(client, "update announcements set rule=? where id=?", '{"cron": "not a cron"}', bad)
    await asyncio.gather(*await client.app[SCHEDULER].advance(at(2026, 12, 7, 7, 0, 1)))
    rows = {r[0]: r for r in await settle(client, 2)}
    assert rows[good][2] == "played"
    assert rows[bad][2] == "failed"
    assert (await sql(client, "select status from announcements where id=?", bad)) == [("failed",)]


async def test_an_announcement_for_a_hamlet_switches_on_only_its_line(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 7, 6, 0))
    player = RecordingPlayer()
    lines = ["Na Phin=22", "Khau Phạ=23"]  # written without diacritics or with: the commune's spelling wins
    client = await start_gateway(
        emulator, clock=clock, player=player, player_config={"relay": "recording", "lines": lines}
    )
    station = client.app[ANNOUNCER].station
    assert set(station.lines) == {"Nà Phìn", "Khau Phạ"}
    await announce(client, zones=["Nà Phìn"])
    await settle(client, 1)
    assert station.lines["Nà Phìn"].states == [False, True, False]
    assert station.lines["Khau Phạ"].states == [False]  # only switched off at start
    # a hamlet without a line of its own: every line, and the draft said so before approval
    resp = await client.post("/api/v1/announcements", json={"text": "Họp", "repeat": 1, "zones": ["Pả Vi"]},
                             headers=AUTH)  # fmt: skip
    draft = await resp.json()
    assert "Pả Vi không có đường loa riêng: thông báo sẽ phát ở mọi loa" in draft["plan"]
    await client.post(f"/api/v1/announcements/{draft['id']}/approve", headers=AUTH)
    await settle(client, 2)
    assert station.lines["Khau Phạ"].states == [False, True, False]
    rows = await sql(client, "select zones, lines from broadcast_log order by id")
    assert rows == [('["Nà Phìn"]', '["Nà Phìn"]'), ('["Pả Vi"]', '["Nà Phìn", "Khau Phạ"]')]


async def test_the_first_requests_for_a_new_preview_at_once_all_get_the_same_sound(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(emulator)
    resp = await client.post("/api/v1/announcements", json={"text": "Chiều nay họp thôn lúc 14 giờ", "repeat": 1},
                             headers=AUTH)  # fmt: skip
    preview = (await resp.json())["preview"]
    for fmt in ("mp3", "ogg"):
        url = preview.replace(".mp3", f".{fmt}")
        answers = await asyncio.gather(*(client.get(url, headers=AUTH) for _ in range(6)))
        assert [r.status for r in answers] == [200] * 6
        bodies = {await r.read() for r in answers}
        assert len(bodies) == 1 and len(bodies.pop()) > 1000  # one render, handed to all six
