"""The station with the real pieces: Debian's icecast2 on loopback fed by the station's ffmpeg sources,
receivers that are real ffmpeg processes recording what they heard, the wired output beside them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from audio.player import RecordingPlayer, RecordingRelay
from audio.player import Station as Amplifier
from gateway.core.priority import Priority
from gateway.testing.receivers import Receiver, poll, tone
from station.icecast import IcecastServer, mounts
from station.ip import IcecastOutput
from station.outputs import AmplifiedOutput, Item, Proof
from station.station import Station

ZONES = ["Nà Phìn", "Khau Phạ"]


@pytest.fixture
async def icecast(tmp_path: Path) -> AsyncIterator[IcecastServer]:
    server = IcecastServer(tmp_path / "icecast", ZONES)
    await server.start()
    yield server
    await server.stop()


def icecast_output(server: IcecastServer, retry: float = 0.5) -> IcecastOutput:
    return IcecastOutput("icecast", server.url, ZONES, source_password=server.source_password,
                         admin_user="admin", admin_password=server.admin_password, retry=retry)  # fmt: skip


async def started(output: IcecastOutput) -> None:
    await output.start()
    await poll(lambda: _true(output.health.ok))


async def _true(value: bool) -> bool:
    return value


async def listening(tmp_path: Path, server: IcecastServer, zone: str, name: str) -> Receiver:
    receiver = Receiver(server.url + mounts(zone)[0], tmp_path, name)
    await receiver.start()
    # connected and already hearing the programme's silence
    await receiver.until(lambda: len(receiver.levels()) >= 4)
    return receiver


@pytest.fixture
async def station(icecast: IcecastServer) -> AsyncIterator[tuple[Station, RecordingPlayer, list[list[Proof]]]]:
    player = RecordingPlayer()
    wired = AmplifiedOutput("wired", "wired", Amplifier(player, RecordingRelay(), 0.0, 0.0))
    ip = icecast_output(icecast)
    logged: list[list[Proof]] = []

    async def record(item: Item, proofs: list[Proof]) -> None:
        logged.append(proofs)

    s = Station([wired, ip], record=record)
    await started(ip)
    yield s, player, logged
    await s.stop()


async def test_an_item_for_a_hamlet_is_heard_on_its_mount_and_its_wired_line(
    tmp_path: Path, icecast: IcecastServer, station: tuple[Station, RecordingPlayer, list[list[Proof]]]
) -> None:
    s, player, logged = station
    here = await listening(tmp_path, icecast, "Nà Phìn", "na-phin")
    there = await listening(tmp_path, icecast, "Khau Phạ", "khau-pha")
    item = await tone(tmp_path / "item.wav", 3.0, -12.0)
    outcome = await s.broadcast(item, Priority.NORMAL, zones=["Nà Phìn"])
    assert outcome.result == "played"
    await here.until(lambda: bool(here.heard()) and here.heard()[-1][0] + here.heard()[-1][1] < len(here.levels()) * 0.05 - 0.3)
    ((_, seconds, db),) = here.heard()
    assert 2.6 <= seconds <= 3.4 and -16 <= db <= -8  # the item, whole, at its loudness
    assert there.heard() == []  # the other hamlet's receivers heard nothing
    assert len(player.plays) == 1  # the wired line played it too
    proofs = {p.output: p for p in logged[0]}
    assert proofs["wired"].result == proofs["icecast"].result == "played"
    assert proofs["icecast"].detail["listeners"] == 1 and proofs["icecast"].detail["bytes_sent"] > 3 * 4000
    await here.stop()
    await there.stop()
