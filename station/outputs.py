"""The station's outputs behind one interface, each with its own health and its own proof of broadcast:
`wired` (the amplifier and the hamlets' lines), `fm` (the transmitter's sound card and its power/PTT relay),
`icecast` (a mount per zone), `rtp` (G.711 to multicast or unicast horns).

A vendor's IP cluster that only takes its own HTTP push is one more class with `play` and `health`
(see docs/station.md): nothing else in the station changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
import wave
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from audio.player import Relay
from audio.player import Station as Amplifier
from gateway.core.priority import Priority
from station.pcm import BYTES_PER_SECOND, RATE

log = logging.getLogger(__name__)
SEGMENT = 5.0  # seconds of a relayed stream per file the sound device plays


@dataclass(frozen=True)
class Item:
    """What the station plays: a file (an announcement, a fallback) or a stream's PCM (a relay)."""

    wav: Path | None
    priority: Priority
    zones: tuple[str, ...] = ()
    kind: str = "announcement"  # announcement | relay
    ref: int | None = None
    title: str = ""
    level: str = "thuong"
    pcm: Callable[[], Awaitable[bytes]] | None = None  # the item decoded once, shared by the IP outputs
    live: asyncio.Queue[bytes | None] | None = None  # a relay: this output's own copy of the stream (None: its end)


class LiveFeed(Protocol):
    """A relayed stream: each output subscribes before it runs (station/relay.py's LiveSource)."""

    events: list[dict[str, Any]]

    def subscribe(self) -> asyncio.Queue[bytes | None]: ...

    async def run(self) -> None: ...


@dataclass
class Proof:
    """One output's part of one item: what the province's report shows per output."""

    output: str
    result: str = "failed"  # played | interrupted | failed
    started_at: float = 0.0
    ended_at: float = 0.0
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # relay/lines, listeners/bytes, targets

    @property
    def seconds(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


@dataclass
class Health:
    ok: bool = True
    state: str = "sẵn sàng"
    error: str | None = None
    since: float = field(default_factory=time.time)

    def set(self, ok: bool, state: str, error: str | None = None) -> None:
        if ok != self.ok or state != self.state:
            self.since = time.time()
        self.ok, self.state, self.error = ok, state, error


class Output(Protocol):
    name: str
    kind: str

    @property
    def warmup(self) -> float:
        """Seconds between the start and the sound: the station starts the others this much later."""

    health: Health

    def serves(self, zones: Sequence[str]) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def reset(self) -> None: ...

    async def play(self, item: Item, on_relay: Callable[[str], Awaitable[None]] | None) -> Proof: ...


class AmplifiedOutput:
    """A sound device behind a relay: `wired` (the amplifier, and a line per hamlet) or `fm` (the
    transmitter, its power/PTT relay and its warm-up). The relay's on → warm-up → play → tail → off
    is audio.player's; this adds the output's health and proof."""

    def __init__(self, name: str, kind: str, amplifier: Amplifier, zones: Sequence[str] | None = None) -> None:
        self.name, self.kind, self.amplifier = name, kind, amplifier
        self.zones = None if zones is None else set(zones)  # None: every zone (FM reaches the whole commune)
        self.health = Health()

    @property
    def warmup(self) -> float:
        return self.amplifier.warmup

    @property
    def relay(self) -> Relay:
        return self.amplifier.relay

    def serves(self, zones: Sequence[str]) -> bool:
        return self.zones is None or not zones or bool(self.zones & set(zones))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def reset(self) -> None:
        await self.amplifier.reset()

    async def play(self, item: Item, on_relay: Callable[[str], Awaitable[None]] | None) -> Proof:
        if item.live is not None:
            return await self._play_live(item, item.live, on_relay)
        assert item.wav is not None
        proof = Proof(self.name, started_at=time.time())
        zones = list(item.zones) if self.kind == "wired" else []
        try:
            outcome = await self.amplifier.broadcast(item.wav, item.priority, on_relay=on_relay, zones=zones)
        except asyncio.CancelledError:
            proof.result, proof.ended_at = "interrupted", time.time()
            proof.detail = {"relay": "on→off"}
            raise
        proof.ended_at = time.time()
        proof.result, proof.error = outcome.result, outcome.error
        proof.detail = {"relay": outcome.relay, "lines": None if outcome.lines is None else list(outcome.lines)}
        if outcome.result == "failed":
            self.health.set(False, "lỗi khi phát", outcome.error)
        else:
            self.health.set(True, "sẵn sàng")
        return proof

    async def _play_live(
        self, item: Item, live: asyncio.Queue[bytes | None], on_relay: Callable[[str], Awaitable[None]] | None
    ) -> Proof:
        """A relay on a sound device: relay on → warm-up → the stream in segments of SEGMENT seconds, each
        played as it is complete (the loudspeakers run that far behind the stream) → tail → off."""
        a = self.amplifier
        proof = Proof(self.name, started_at=time.time())
        chosen = a.lines_for(list(item.zones)) if self.kind == "wired" else None
        switched: list[Relay] = []
        played = 0.0
        try:
            await a.relay.set(True)
            for name in chosen or ():
                switched.append(a.lines[name])
                await a.lines[name].set(True)
            if on_relay is not None:
                await on_relay("on")
            await asyncio.sleep(a.warmup)
            with tempfile.TemporaryDirectory(prefix="loa-relay-") as folder:
                n, ended = 0, False
                while not ended:
                    buf = bytearray()
                    while len(buf) < SEGMENT * BYTES_PER_SECOND:
                        chunk = await live.get()
                        if chunk is None:
                            ended = True
                            break
                        buf += chunk
                    if buf:
                        n += 1
                        path = Path(folder) / f"relay-{n}.wav"
                        with wave.open(str(path), "wb") as w:
                            w.setnchannels(1)
                            w.setsampwidth(2)
                            w.setframerate(RATE)
                            w.writeframes(bytes(buf))
                        await a.player.play(path)
                        played += len(buf) / BYTES_PER_SECOND
            await asyncio.sleep(a.tail)
            proof.result = "played"
        except asyncio.CancelledError:
            proof.result = "interrupted"
            raise
        except Exception as e:
            proof.result, proof.error = "failed", str(e)[:500]
        finally:
            for line in reversed(switched):
                with contextlib.suppress(Exception):
                    await line.set(False)
            try:
                await a.relay.set(False)
                relay = "on→off"
            except Exception:
                relay = "on→off FAILED"
            proof.ended_at = time.time()
            proof.detail = {"relay": relay, "lines": None if chosen is None else list(chosen),
                            "seconds_played": round(played, 1)}  # fmt: skip
        return proof


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(3):
                await proc.wait()
                return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
