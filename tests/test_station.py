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
from station.icecast import IcecastServer, IcecastStats, mounts
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
    await here.until(
        lambda: bool(here.heard()) and here.heard()[-1][0] + here.heard()[-1][1] < len(here.levels()) * 0.05 - 0.3
    )
    ((_, seconds, db),) = here.heard()
    assert 2.6 <= seconds <= 3.4 and -16 <= db <= -8  # the item, whole, at its loudness
    assert there.heard() == []  # the other hamlet's receivers heard nothing
    assert len(player.plays) == 1  # the wired line played it too
    proofs = {p.output: p for p in logged[0]}
    assert proofs["wired"].result == proofs["icecast"].result == "played"
    assert proofs["icecast"].detail["listeners"] == 1 and proofs["icecast"].detail["bytes_sent"] > 3 * 4000
    await here.stop()
    await there.stop()


async def test_khan_cap_overrides_every_receiver_and_the_programme_comes_back(
    tmp_path: Path, icecast: IcecastServer, station: tuple[Station, RecordingPlayer, list[list[Proof]]]
) -> None:
    s, _, logged = station
    receiver = await listening(tmp_path, icecast, "Khau Phạ", "khau-pha")
    long_one = await tone(tmp_path / "long.wav", 8.0, -24.0)
    urgent = await tone(tmp_path / "urgent.wav", 2.0, -8.0, 880)
    programme = asyncio.create_task(s.broadcast(long_one, Priority.NORMAL))
    await receiver.until(lambda: bool(receiver.heard()))
    emergency = await s.broadcast(urgent, Priority.URGENT)
    assert emergency.result == "played" and (await programme).result == "interrupted"
    await receiver.until(lambda: receiver.ended(threshold=-14.0))
    loud = receiver.heard(threshold=-14.0)  # a busy machine may cut it where the listener is moved over
    seconds = sum(s for _, s, _ in loud)
    assert 1.6 <= seconds <= 2.4 and all(-12 <= db <= -4 for *_, db in loud)  # the emergency, whole
    assert {p.output: p.result for p in logged[0]}["icecast"] == "interrupted"  # the wired fake had finished
    # back on the programme: the same receiver, still connected, hears the next item
    after = len(receiver.heard())
    await s.broadcast(await tone(tmp_path / "next.wav", 1.5, -18.0), Priority.NORMAL)
    await receiver.until(lambda: len(receiver.heard()) > after)
    assert receiver.running


async def test_icecast_stopped_mid_item_the_wired_line_plays_on_and_the_mounts_come_back(
    tmp_path: Path, icecast: IcecastServer
) -> None:
    player = RecordingPlayer(hold=asyncio.Event())
    wired = AmplifiedOutput("wired", "wired", Amplifier(player, RecordingRelay(), 0.0, 0.0))
    ip = icecast_output(icecast, retry=0.3)
    logged: list[list[Proof]] = []

    async def record(item: Item, proofs: list[Proof]) -> None:
        logged.append(proofs)

    s = Station([wired, ip], record=record)
    await started(ip)
    receiver = await listening(tmp_path, icecast, "Nà Phìn", "na-phin")
    play = asyncio.create_task(s.broadcast(await tone(tmp_path / "item.wav", 6.0, -12.0), Priority.NORMAL))
    await receiver.until(lambda: bool(receiver.heard()))
    await icecast.stop()  # mid-item
    await poll(lambda: _true(not ip.health.ok))
    assert "Nà Phìn" in (ip.health.error or "")
    assert not play.done()  # the wired line still plays
    assert player.plays[0]["result"] == "playing"
    player.hold.set()  # type: ignore[union-attr]
    outcome = await play
    assert outcome.result == "played"
    proofs = {p.output: p for p in outcome.proofs}
    assert proofs["wired"].result == "played" and proofs["icecast"].result == "failed"
    assert logged[0] == outcome.proofs  # each output's result is logged, the failed one as failed
    await receiver.stop()
    await icecast.start()  # Icecast is back: the sources reconnect on their own
    await poll(lambda: _true(ip.health.ok))
    again = await listening(tmp_path, icecast, "Nà Phìn", "na-phin-again")
    outcome = await s.broadcast(await tone(tmp_path / "after.wav", 1.5, -12.0), Priority.NORMAL)
    assert {p.output: p.result for p in outcome.proofs} == {"wired": "played", "icecast": "played"}
    await again.until(lambda: bool(again.heard()))
    await again.stop()
    await s.stop()


async def test_receivers_are_seen_and_one_that_drops_is_gone(
    tmp_path: Path, icecast: IcecastServer, station: tuple[Station, RecordingPlayer, list[list[Proof]]]
) -> None:
    s, _, _ = station
    ip = s.outputs[1]
    assert isinstance(ip, IcecastOutput)
    first = await listening(tmp_path, icecast, "Nà Phìn", "one")
    second = await listening(tmp_path, icecast, "Khau Phạ", "two")
    seen = await ip.receivers()
    assert sorted(r["zone"] for r in seen) == ["Khau Phạ", "Nà Phìn"]
    assert all(r["address"] == "127.0.0.1" and r["seconds"] >= 0 for r in seen)
    await second.stop()  # a receiver drops (power cut at the cluster)

    async def one_left() -> bool:
        return [r["zone"] for r in await ip.receivers()] == ["Nà Phìn"]

    await poll(one_left)
    outcome = await s.broadcast(await tone(tmp_path / "item.wav", 1.0, -12.0), Priority.NORMAL)
    icecast_proof = next(p for p in outcome.proofs if p.output == "icecast")
    assert icecast_proof.detail["listeners"] == 1
    await first.stop()


async def test_a_relay_plays_the_province_then_its_fallback_when_the_stream_goes_silent(
    tmp_path: Path, icecast: IcecastServer, station: tuple[Station, RecordingPlayer, list[list[Proof]]]
) -> None:
    from station.relay import LiveSource

    s, player, logged = station
    receiver = await listening(tmp_path, icecast, "Nà Phìn", "na-phin")
    fallback = await tone(tmp_path / "ban-tin.wav", 2.0, -10.0, 660)
    # the "province": a mount on the same Icecast, 3 s of programme and then a dead carrier (silence)
    province = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
        "sine=frequency=440:sample_rate=22050:duration=3,volume=4,apad", "-t", "40", "-c:a", "libmp3lame",
        "-content_type", "audio/mpeg", "-f", "mp3",
        f"icecast://source:{icecast.source_password}@127.0.0.1:{icecast.port}/tinh.mp3",
    )  # fmt: skip
    try:
        stats = IcecastStats(icecast.url, "admin", icecast.admin_password)

        async def on_air() -> bool:
            return "/tinh.mp3" in await stats.mounts()

        await poll(on_air)
        live = LiveSource(f"{icecast.url}/tinh.mp3", seconds=12.0, silence=3.0, fallback=fallback)
        item = Item(None, Priority.NORMAL, ("Nà Phìn",), "relay", 1, "Tiếp sóng Đài tỉnh", "thuong")
        outcome = await s.broadcast(None, Priority.NORMAL, zones=["Nà Phìn"], item=item, live=live)
    finally:
        province.terminate()
        await province.wait()
    assert outcome.result == "played"
    whats = [e["what"] for e in live.events]
    assert whats == ["stream", "fallback"] and "im lặng 3 s" in live.events[1]["detail"]
    await receiver.until(receiver.ended)
    heard = receiver.heard()
    assert len(heard) == 2  # the province's programme, a silence, then the recorded bulletin
    assert heard[0][1] <= 3.6 and 1.6 <= heard[1][1] <= 2.4 and -14 <= heard[1][2] <= -6
    proofs = {p.output: p for p in logged[-1]}
    assert proofs["icecast"].detail["stream"][1]["what"] == "fallback"
    assert proofs["wired"].result == "played" and player.plays  # the wired line had it in segments
    await receiver.stop()


async def test_rtp_reaches_a_receiver_on_the_lan_with_the_item(tmp_path: Path) -> None:
    from station.icecast import free_port
    from station.ip import RtpOutput

    port = free_port()
    sdp = tmp_path / "loa.sdp"
    sdp.write_text(f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=Loa\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {port} RTP/AVP 0\n"
                   "a=rtpmap:0 PCMU/8000\n")  # fmt: skip
    receiver = Receiver(str(sdp), tmp_path, "horn", rtp=True)
    await receiver.start()
    rtp = RtpOutput("rtp", {"Nà Phìn": [f"127.0.0.1:{port}"]})
    s = Station([rtp])
    assert s.outputs_for(["Khau Phạ"]) == []  # no horn there
    outcome = await s.broadcast(await tone(tmp_path / "item.wav", 2.0, -12.0), Priority.NORMAL, zones=["Nà Phìn"])
    assert outcome.result == "played" and outcome.proofs[0].detail["targets"] == [f"127.0.0.1:{port}"]
    await receiver.until(lambda: sum(s for _, s, _ in receiver.heard()) >= 1.8)
    ((_, seconds, db),) = receiver.heard()
    assert 1.8 <= seconds <= 2.3 and -15 <= db <= -9  # G.711 carries the item at its loudness
    await receiver.stop()
