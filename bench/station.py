"""Benchmark: per output, the time from an item's start to a receiver hearing it, how far apart the outputs
start, and how fast khẩn cấp pre-empts: Debian's icecast2 on loopback with no burst and with its default
burst (64 KB), ffmpeg receivers on an Icecast mount and on the RTP stream, the wired and FM outputs timed
where their sound device would start (their relays' warm-up included)."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from audio.player import RecordingRelay
from audio.player import Station as Amplifier
from bench import Figure
from gateway.core.priority import Priority
from gateway.testing.receivers import WINDOW, Receiver, poll, tone
from station.icecast import IcecastServer, free_port, mounts
from station.ip import IcecastOutput, RtpOutput
from station.outputs import AmplifiedOutput, Output
from station.station import Station

ZONE = "Nà Phìn"


class TimedPlayer:
    """Where a sound card would start and stop: the times each play began and ended."""

    def __init__(self) -> None:
        self.starts: list[float] = []
        self.stops: list[float] = []

    async def play(self, wav: Path) -> None:
        self.starts.append(time.time())
        try:
            await asyncio.sleep(float(wav.stem.split("-")[-1]))  # the file's name says its length
        finally:
            self.stops.append(time.time())


async def _ok(output: IcecastOutput) -> bool:
    return output.health.ok


def _onset(r: Receiver, after: float, threshold: float) -> float:
    """The wall time the first sound louder than `threshold` reached the receiver after `after`."""
    levels = r.levels()
    for i in range(len(levels) - 3):
        # 0.2 s of it: a click where a stream was cut is not the item
        if min(levels[i : i + 4]) > threshold and (t := r.arrived(i * WINDOW)) >= after:
            return t
    return float("inf")


def _played(r: Receiver, after: float, threshold: float) -> float:
    """When a player that plays the stream in real time from its first byte sounds that onset: what a
    receiver's loudspeaker does (Icecast's burst on connect puts it that much behind)."""
    first = next(t for t, size in r.sizes if size > 0)
    for i, db in enumerate(r.levels()):
        if db > threshold and r.arrived(i * WINDOW) >= after:
            return first + i * WINDOW
    return float("inf")


def _last_before(r: Receiver, moment: float) -> float:
    """The last time the receiver got anything before `moment` (RTP sends nothing once stopped)."""
    return max((t for t, _ in r.sizes if t < moment), default=float("inf"))


def _quiet(r: Receiver, after: float, below: float, above: float) -> float:
    """The wall time the receiver first had neither the item (quieter than `above`) nor silence after
    `after`: when what it heard stopped being the interrupted item."""
    for i, db in enumerate(r.levels()):
        if (t := r.arrived(i * WINDOW)) >= after and not below < db < above:
            return t
    return float("inf")


async def one_setting(folder: Path, burst: int, items: int) -> dict[str, Any]:
    server = IcecastServer(folder / f"icecast-{burst}", [ZONE], burst=burst)
    await server.start()
    wired_player, fm_player = TimedPlayer(), TimedPlayer()
    port = free_port()
    ip = IcecastOutput("icecast", server.url, [ZONE], source_password=server.source_password, admin_user="admin",
                       admin_password=server.admin_password)  # fmt: skip
    outputs: list[Output] = [
        AmplifiedOutput("wired", "wired", Amplifier(wired_player, RecordingRelay(), 2.0, 0.0)),
        AmplifiedOutput("fm", "fm", Amplifier(fm_player, RecordingRelay(), 3.0, 0.0)),
        ip,
        RtpOutput("rtp", {"*": [f"127.0.0.1:{port}"]}),
    ]
    station = Station(outputs)
    await station.start()
    await poll(lambda: _ok(ip))
    sdp = folder / f"rtp-{burst}.sdp"
    sdp.write_text(f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=Loa\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio {port} RTP/AVP 0\n"
                   "a=rtpmap:0 PCMU/8000\n")  # fmt: skip
    listener = Receiver(server.url + mounts(ZONE)[0], folder, f"icecast-{burst}")
    rtp = Receiver(str(sdp), folder, f"rtp-{burst}", rtp=True)
    await listener.start()
    await rtp.start()
    await listener.until(lambda: len(listener.levels()) > 10)
    delays: dict[str, list[float]] = {"wired": [], "fm": [], "icecast": [], "rtp": [],
                                      "icecast, played from its first byte": []}  # fmt: skip
    spread: list[float] = []
    try:
        for n in range(items):
            wav = await tone(folder / f"item{burst}-{n}-2.0.wav", 2.0, -14.0)
            t0 = time.time()
            await station.broadcast(wav, Priority.NORMAL)
            await listener.until(lambda t0=t0: _onset(listener, t0, -40) < float("inf"))  # type: ignore[misc]
            starts = {"wired": wired_player.starts[-1], "fm": fm_player.starts[-1],
                      "icecast": _onset(listener, t0, -40), "rtp": _onset(rtp, t0, -40)}  # fmt: skip
            delays["icecast, played from its first byte"].append(_played(listener, t0, -40) - t0)
            for k, v in starts.items():
                delays[k].append(v - t0)
            spread.append(max(starts.values()) - min(starts.values()))
            await asyncio.sleep(1.0)
        # khẩn cấp over a long item: how soon each output has stopped the item and sounds the emergency
        long_wav = await tone(folder / f"long{burst}-10.0.wav", 10.0, -30.0)
        urgent = await tone(folder / f"urgent{burst}-2.0.wav", 2.0, -6.0, 880)
        programme = asyncio.create_task(station.broadcast(long_wav, Priority.NORMAL))
        await asyncio.sleep(4.0)
        t0 = time.time()
        await station.broadcast(urgent, Priority.URGENT)
        await programme
        await listener.until(lambda: _onset(listener, t0, -12) < float("inf"))
        preempt = {
            "wired stopped": wired_player.stops[-2] - t0,
            "icecast stopped": _quiet(listener, t0, -36, -24) - t0,
            "rtp stopped": _last_before(rtp, _onset(rtp, t0, -12)) - t0,
            "wired sounding": wired_player.starts[-1] - t0,
            "fm sounding": fm_player.starts[-1] - t0,
            "icecast heard": _onset(listener, t0, -12) - t0,
            "rtp heard": _onset(rtp, t0, -12) - t0,
        }
    finally:
        await listener.stop()
        await rtp.stop()
        await station.stop()
        await server.stop()
    return {"delays": delays, "spread": spread, "preempt": preempt}


async def run(quick: bool = False) -> list[Figure]:
    items = 2 if quick else 5
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for burst in (0, 65535):
            found = await one_setting(Path(tmp), burst, items)
            label = "no burst" if burst == 0 else "Icecast's default 64 KB burst"
            how = f"{items} items of 2 s, median; {label}; receivers: ffmpeg on the mount and on the RTP stream"
            for output, values in found["delays"].items():
                if burst and output in ("wired", "fm"):
                    continue  # the same as without a burst: Icecast is not in their path
                figures.append(Figure("station", f"start → heard, {output}" + (" (burst)" if burst else ""),
                                      round(statistics.median(values), 2), "s", how))  # fmt: skip
            figures.append(Figure("station", "outputs' start spread" + (" (burst)" if burst else ""),
                                  round(max(found["spread"]), 2), "s", f"largest of {items}; {label}"))  # fmt: skip
            for what, value in found["preempt"].items():
                if burst and what.startswith(("wired", "fm")):
                    continue
                figures.append(Figure("station", f"khẩn cấp → {what}" + (" (burst)" if burst else ""),
                                      round(value, 2), "s", f"an urgent item over a 10 s one; {label}"))  # fmt: skip
    return figures


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    for f in asyncio.run(run(args.quick)):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")
