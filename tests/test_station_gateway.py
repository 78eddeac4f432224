"""The station inside the gateway: [station] outputs from the config, an announcement through the API heard
on the wired line and by an Icecast receiver, each output's proof in the report (JSON and CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from audio.player import RecordingPlayer
from gateway.testing import AUTH, HAMLETS, EmulatedModem, sql, until
from gateway.testing.receivers import Receiver, poll
from station.icecast import IcecastServer, mounts
from station.keys import STATION


@pytest.fixture
async def icecast(tmp_path: Path) -> AsyncIterator[IcecastServer]:
    server = IcecastServer(tmp_path / "icecast", HAMLETS)
    await server.start()
    yield server
    await server.stop()


def station_config(server: IcecastServer, **more: Any) -> dict[str, Any]:
    return {"outputs": ["wired", "icecast"], "icecast_url": server.url,
            "icecast_source_password": server.source_password, "icecast_admin_password": server.admin_password,
            **more}  # fmt: skip


async def test_an_announcement_plays_on_wired_and_icecast_and_the_report_has_both(
    emulator: EmulatedModem, start_gateway: Any, icecast: IcecastServer, tmp_path: Path
) -> None:
    player = RecordingPlayer()
    client = await start_gateway(emulator, player=player, station=station_config(icecast))
    service = client.app[STATION]

    async def all_up() -> bool:
        return all(o["ok"] for o in service.outputs())

    await poll(all_up)
    receiver = Receiver(icecast.url + mounts("Nà Phìn")[0], tmp_path, "na-phin")
    await receiver.start()
    await receiver.until(lambda: len(receiver.levels()) >= 4)
    status = await (await client.get("/api/v1/station", headers=AUTH)).json()
    assert [o["name"] for o in status["outputs"]] == ["wired", "icecast"]
    assert [r["zone"] for r in status["receivers"]] == ["Nà Phìn"]

    resp = await client.post("/api/v1/announcements", json={"text": "Họp thôn lúc 19 giờ", "repeat": 1,
                             "zones": ["Nà Phìn"], "priority": "uu_tien"}, headers=AUTH)  # fmt: skip
    draft = await resp.json()
    await client.post(f"/api/v1/announcements/{draft['id']}/approve", headers=AUTH)

    async def played() -> bool:
        return await sql(client, "select result from broadcast_log") == [("played",)]

    await until(client, played, timeout=60)
    await receiver.until(receiver.ended)
    ((_, seconds, _),) = receiver.heard(threshold=-50.0)[:1]
    assert seconds > 0.5 and abs(sum(s for _, s, _ in receiver.heard(-50.0)) - draft["seconds"]) < draft["seconds"]
    assert len(player.plays) == 1
    await receiver.stop()

    report = await (await client.get("/api/v1/station/report", headers=AUTH)).json()
    rows = {r["output"]: r for r in report["plays"]}
    assert set(rows) == {"wired", "icecast"}
    assert rows["icecast"]["result"] == rows["wired"]["result"] == "played"
    assert rows["icecast"]["level"] == "uu_tien" and rows["icecast"]["zones"] == ["Nà Phìn"]
    assert rows["icecast"]["proof"]["listeners"] == 1 and rows["wired"]["proof"]["relay"] == "on→off"
    month = report["period"][:7]
    resp = await client.get(f"/api/v1/station/report?month={month}&format=csv", headers=AUTH)
    assert resp.status == 200 and resp.content_type == "text/csv"
    table = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    assert sorted(r["output"] for r in table) == ["icecast", "wired"]
    assert all(r["title"] == "Họp thôn lúc 19 giờ" and r["zones"] == "Nà Phìn" for r in table)
    resp = await client.get("/api/v1/station/report?month=2026-13", headers=AUTH)
    assert resp.status == 400


async def test_a_zone_mapped_to_icecast_only_leaves_the_wired_line_off(
    emulator: EmulatedModem, start_gateway: Any, icecast: IcecastServer
) -> None:
    player = RecordingPlayer()
    client = await start_gateway(emulator, player=player, station=station_config(icecast, zones=["Lũng Cú=icecast"]))
    resp = await client.post("/api/v1/announcements", json={"text": "Họp", "repeat": 1, "zones": ["Lũng Cú"]},
                             headers=AUTH)  # fmt: skip
    await client.post(f"/api/v1/announcements/{(await resp.json())['id']}/approve", headers=AUTH)

    async def done() -> bool:
        return bool(await sql(client, "select 1 from station_plays"))

    await until(client, done, timeout=60)
    assert [r[0] for r in await sql(client, "select output from station_plays")] == ["icecast"]
    assert player.plays == []


async def test_an_official_orders_the_uu_tien_items_and_they_play_in_that_order(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    from gateway.testing import FakeClock, at
    from schedules.keys import SCHEDULER

    clock = FakeClock(at(2026, 12, 7, 6, 0))
    player = RecordingPlayer()
    client = await start_gateway(emulator, clock=clock, player=player)
    ids = []
    for text in ("Tin một", "Tin hai", "Tin ba"):
        resp = await client.post("/api/v1/announcements", json={"text": text, "repeat": 1, "priority": "uu_tien",
                                 "when": {"at": "2026-12-07T07:00"}}, headers=AUTH)  # fmt: skip
        ids.append((await resp.json())["id"])
        await client.post(f"/api/v1/announcements/{ids[-1]}/approve", headers=AUTH)
    resp = await client.post(f"/api/v1/announcements/{ids[2]}/move", json={"direction": "up"}, headers=AUTH)
    resp = await client.post(f"/api/v1/announcements/{ids[2]}/move", json={"direction": "up"}, headers=AUTH)
    assert [o["id"] for o in (await resp.json())["order"]] == [ids[2], ids[0], ids[1]]
    bad = await client.post(f"/api/v1/announcements/{ids[0]}/move", json={"direction": "sideways"}, headers=AUTH)
    assert bad.status == 400
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 7, 0, 1))

    async def three() -> bool:
        return len(await sql(client, "select 1 from broadcast_log where result='played'")) == 3

    await until(client, three)
    played = await sql(client, "select item from station_plays order by id")
    assert [r[0] for r in played] == [ids[2], ids[0], ids[1]]


async def test_a_relay_is_scheduled_through_the_api_and_plays_the_province_at_its_hour(
    emulator: EmulatedModem, start_gateway: Any, icecast: IcecastServer, tmp_path: Path
) -> None:
    import asyncio

    from gateway.testing import FakeClock, at
    from schedules.keys import SCHEDULER

    clock = FakeClock(at(2026, 12, 7, 4, 0))
    client = await start_gateway(emulator, clock=clock, player=RecordingPlayer(),
                                 station=station_config(icecast, outputs=["icecast"]))  # fmt: skip
    bad = await client.post("/api/v1/station/relays", json={"name": "VOV", "url": "ftp://x", "times": ["05:00"]},
                            headers=AUTH)  # fmt: skip
    assert bad.status == 400 and (await bad.json())["field"] == "url"
    bad = await client.post("/api/v1/station/relays", json={"name": "VOV", "url": icecast.url + "/tinh.mp3",
                            "times": ["25:00"]}, headers=AUTH)  # fmt: skip
    assert bad.status == 400
    resp = await client.post("/api/v1/station/relays", json={
        "name": "Đài tỉnh", "url": icecast.url + "/tinh.mp3", "zones": ["Na Phin"], "times": ["17:00", "05:00"],
        "minutes": 1, "silence": 3}, headers=AUTH)  # fmt: skip
    assert resp.status == 201, await resp.text()
    relay = await resp.json()
    assert relay["zones"] == ["Nà Phìn"] and relay["times"] == ["05:00", "17:00"]
    assert relay["next_at"] == at(2026, 12, 7, 5, 0)
    province = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=22050,volume=4", "-t", "30", "-c:a", "libmp3lame", "-content_type",
        "audio/mpeg", "-f", "mp3", f"icecast://source:{icecast.source_password}@127.0.0.1:{icecast.port}/tinh.mp3",
    )  # fmt: skip
    try:
        service = client.app[STATION]

        async def all_up() -> bool:
            return all(o["ok"] for o in service.outputs())

        await poll(all_up)
        receiver = Receiver(icecast.url + mounts("Nà Phìn")[0], tmp_path, "na-phin")
        await receiver.start()
        await receiver.until(lambda: len(receiver.levels()) >= 4)
        await client.app[SCHEDULER].advance(at(2026, 12, 7, 5, 0, 1))
        await receiver.until(lambda: bool(receiver.heard()) and receiver.heard()[0][1] > 2.0)
        listed = await (await client.get("/api/v1/station/relays", headers=AUTH)).json()
        assert listed["relays"][0]["next_at"] == at(2026, 12, 7, 17, 0)
        await client.app[STATION].relays.close()  # the slot's end is a minute away: stopped here
        await receiver.stop()
    finally:
        province.terminate()
        await province.wait()


async def test_the_dashboard_and_the_station_page_show_outputs_receivers_and_the_plays(
    emulator: EmulatedModem, start_gateway: Any, icecast: IcecastServer, tmp_path: Path
) -> None:
    from gateway.core.keys import STORE
    from gateway.testing import log_in
    from gateway.web import accounts

    client = await start_gateway(emulator, player=RecordingPlayer(), station=station_config(icecast))
    service = client.app[STATION]

    async def all_up() -> bool:
        return all(o["ok"] for o in service.outputs())

    await poll(all_up)
    receiver = Receiver(icecast.url + mounts("Khau Vai")[0], tmp_path, "khau-vai")
    await receiver.start()
    await receiver.until(lambda: len(receiver.levels()) >= 4)
    await client.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, 0.0)
    assert await log_in(client, "canbo", "matkhau-an-toan-1") == 303
    page = await (await client.get("/")).text()
    assert "Đầu ra của đài" in page and "đang phát nền" in page
    assert "Cụm loa IP đang nghe (1)" in page and "Khau Vai" in page
    await receiver.stop()
    station_page = await (await client.get("/station")).text()
    assert "Lịch tiếp sóng" in station_page and "Nhật ký phát theo từng đầu ra" in station_page
    resp = await client.get("/station/report?format=csv")
    assert resp.status == 200 and (await resp.read()).decode("utf-8-sig").startswith("started_at,")


@pytest.mark.parametrize(
    ("station", "key"),
    [
        ({"outputs": ["wired", "loa-xa"]}, "station.outputs"),
        ({"outputs": ["wired", "wired"]}, "station.outputs"),
        ({"zones": ["Nà Phìn=fm"]}, "station.zones"),  # fm is not one of this station's outputs
        ({"zones": ["Thôn Mới=wired"]}, "station.zones"),
        ({"zones": ["Nà Phìn"]}, "station.zones"),
        ({"outputs": ["icecast"]}, "station.icecast_source_password"),
        ({"outputs": ["icecast"], "icecast_source_password": "x", "icecast_url": "ftp://x"}, "station.icecast_url"),
        ({"outputs": ["rtp"]}, "station.rtp_targets"),
        ({"outputs": ["rtp"], "rtp_targets": ["Nà Phìn=239.255.1.1"]}, "station.rtp_targets"),
        ({"fm_warmup": 99.0}, "station.fm_warmup"),
        ({"colour": "blue"}, "station.colour"),
    ],
)
def test_a_station_config_that_cannot_work_is_refused_naming_the_key(
    tmp_path: Path, station: dict[str, Any], key: str
) -> None:
    from gateway.core.errors import ConfigError
    from gateway.testing import make_config

    with pytest.raises(ConfigError) as e:
        make_config(tmp_path, "emulator", station=station)
    assert e.value.details["key"] == key, e.value


def test_any_zones_text_is_taken_or_refused_naming_the_key(tmp_path: Path) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from gateway.core.errors import ConfigError
    from gateway.testing import make_config

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.text(max_size=40), max_size=4), st.lists(st.text(max_size=40), max_size=3))
    def check(zones: list[str], targets: list[str]) -> None:
        try:
            make_config(tmp_path, "emulator", station={"outputs": ["wired", "rtp"], "zones": zones,
                                                       "rtp_targets": targets or ["*=127.0.0.1:5004"]})  # fmt: skip
        except ConfigError as e:
            assert e.details["key"] in ("station.zones", "station.rtp_targets")

    check()
