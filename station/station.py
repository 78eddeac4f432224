"""The station: every output behind one schedule. One item at a time; it starts on every output of its
zones together (the outputs with a shorter warm-up wait for the longest, so the sound starts at once
everywhere); a more urgent item pre-empts every output; each output's proof is kept, and one output
failing is logged for that output while the others play."""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from audio.player import Player, Relay
from gateway.core.priority import Priority
from station.outputs import AmplifiedOutput, Item, LiveFeed, Output, Proof
from station.pcm import decode

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    result: str  # played | interrupted | failed (played: at least one output played the whole item)
    relay: str  # the wired amplifier's relay: "on→off"
    error: str | None = None
    lines: tuple[str, ...] | None = None
    proofs: list[Proof] = field(default_factory=list)


class Station:
    def __init__(
        self,
        outputs: Sequence[Output],
        zones: dict[str, set[str]] | None = None,
        record: Callable[[Item, list[Proof]], Awaitable[None]] | None = None,
    ) -> None:
        self.outputs = list(outputs)
        self.zone_outputs = zones or {}  # hamlet → the names of its outputs; a hamlet not named has all
        self.record = record
        self._busy = False
        self._waiting: list[tuple[Priority, int, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._current: tuple[Priority, asyncio.Task[Any]] | None = None
        self._preempted: set[asyncio.Task[Any]] = set()

    # ---- the wired output, as the announcements have always seen it ----

    @property
    def wired(self) -> AmplifiedOutput | None:
        return next((o for o in self.outputs if isinstance(o, AmplifiedOutput) and o.kind == "wired"), None)

    @property
    def relay(self) -> Relay:
        assert self.wired is not None
        return self.wired.amplifier.relay

    @property
    def player(self) -> Player:
        assert self.wired is not None
        return self.wired.amplifier.player

    @property
    def lines(self) -> dict[str, Relay]:
        return self.wired.amplifier.lines if self.wired else {}

    def lines_for(self, zones: Sequence[str]) -> tuple[str, ...] | None:
        return self.wired.amplifier.lines_for(zones) if self.wired else None

    def plays_everywhere(self, zones: Sequence[str]) -> list[str]:
        return self.wired.amplifier.plays_everywhere(zones) if self.wired else []

    # ---- zones ----

    def outputs_for(self, zones: Sequence[str]) -> list[Output]:
        """The outputs an item for `zones` plays on; the whole commune ([]) is every output."""
        if not zones:
            return list(self.outputs)
        names = set().union(*(self.zone_outputs.get(z, {o.name for o in self.outputs}) for z in zones))
        return [o for o in self.outputs if o.name in names and o.serves(zones)]

    # ---- start and stop ----

    async def reset(self) -> None:
        for output in self.outputs:
            try:
                await output.reset()
            except Exception:
                log.exception("output %s could not be reset", output.name)

    async def start(self) -> None:
        for output in self.outputs:
            await output.start()

    async def stop(self) -> None:
        for output in self.outputs:
            try:
                await output.stop()
            except Exception:
                log.exception("output %s did not stop cleanly", output.name)

    # ---- one item at a time ----

    async def _acquire(self, priority: Priority, order: int) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiting, (priority, order, self._seq, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()
            else:
                self._waiting = [w for w in self._waiting if w[3] is not fut]
                heapq.heapify(self._waiting)
            raise

    def _release(self) -> None:
        while self._waiting:
            fut = heapq.heappop(self._waiting)[3]
            if not fut.done():
                fut.set_result(None)
                return
        self._busy = False

    async def broadcast(
        self,
        wav: Path | None,
        priority: Priority,
        on_relay: Callable[[str], Awaitable[None]] | None = None,
        zones: Sequence[str] = (),
        item: Item | None = None,
        order: int = 0,
        live: LiveFeed | None = None,
    ) -> Outcome:
        """Play `wav` on every output of `zones`; `order` ranks items of one priority (the officials'
        order of the ưu tiên items). A more urgent item interrupts this one on every output."""
        current = self._current
        if current is not None and priority < current[0]:
            log.warning("%s pre-empts the item playing on every output", priority.name)
            self._preempted.add(current[1])
            current[1].cancel()
        await self._acquire(priority, order)
        task = asyncio.current_task()
        assert task is not None
        self._current = (priority, task)
        base = item or Item(wav, priority)
        decoded: asyncio.Task[bytes] | None = None

        async def pcm() -> bytes:
            nonlocal decoded
            assert wav is not None
            if decoded is None:
                decoded = asyncio.ensure_future(decode(wav))
            return await asyncio.shield(decoded)

        the_item = Item(wav, priority, tuple(zones), base.kind, base.ref, base.title, base.level, pcm)
        chosen = self.outputs_for(zones)
        align = max((o.warmup for o in chosen), default=0.0)
        # a relay: every output has its own copy of the stream before the stream starts
        items = [replace(the_item, live=live.subscribe()) if live is not None else the_item for _ in chosen]
        plays = [
            asyncio.create_task(self._one(o, it, on_relay, align - o.warmup))
            for o, it in zip(chosen, items, strict=True)
        ]
        feeding = asyncio.create_task(live.run()) if live is not None else None
        outcome = Outcome("failed", "", "không có đầu ra nào cho vùng này" if not chosen else None)
        try:
            proofs = list(await asyncio.gather(*plays))
            outcome = self._outcome(proofs, zones)
        except asyncio.CancelledError:
            for p in plays:
                p.cancel()
            done = await asyncio.gather(*plays, return_exceptions=True)
            proofs = [d for d in done if isinstance(d, Proof)]
            if task not in self._preempted:
                raise  # shutting down
            task.uncancel()
            outcome = self._outcome(proofs, zones)
            outcome.result = "interrupted"
        finally:
            if feeding is not None:
                feeding.cancel()
            self._preempted.discard(task)
            self._current = None
            self._release()
            if decoded is not None and not decoded.done():
                decoded.cancel()
        if live is not None:
            for proof in outcome.proofs:
                proof.detail["stream"] = live.events  # when the stream came, went silent, the fallback
        if self.record is not None:
            try:
                await self.record(the_item, outcome.proofs)
            except Exception:
                log.exception("the per-output log could not be written")
        return outcome

    async def _one(
        self, output: Output, item: Item, on_relay: Callable[[str], Awaitable[None]] | None, delay: float
    ) -> Proof:
        started = time.time()
        try:
            if delay > 0:
                await asyncio.sleep(delay)
            return await output.play(item, on_relay if output.kind == "wired" else None)
        except asyncio.CancelledError:
            relay = {"relay": "on→off"} if isinstance(output, AmplifiedOutput) else {}
            return Proof(output.name, "interrupted", started, time.time(), detail=relay)
        except Exception as e:
            log.exception("output %s failed", output.name)
            output.health.set(False, "lỗi khi phát", str(e)[:300])
            return Proof(output.name, "failed", started, time.time(), error=str(e)[:500])

    def _outcome(self, proofs: list[Proof], zones: Sequence[str]) -> Outcome:
        wired = next((p for p in proofs if self.wired and p.output == self.wired.name), None)
        played = [p for p in proofs if p.result == "played"]
        failed = [p for p in proofs if p.result == "failed"]
        if len(proofs) == 1 and wired is not None:
            error = wired.error  # one output: its own words, as before
        else:
            error = "; ".join(f"{p.output}: {p.error}" for p in failed) or None
        return Outcome(
            "played" if played else "failed",
            str(wired.detail.get("relay", "")) if wired else "",
            error,
            self.lines_for(zones) if wired else None,
            proofs,
        )
