"""Players and amplifier relays, and the station that plays one announcement at a time."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import heapq
import logging
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from audio.config import PlayerConfig
from gateway.core.priority import Priority

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Player(Protocol):
    async def play(self, wav: Path) -> None: ...


class Relay(Protocol):
    async def set(self, on: bool) -> None: ...


def _die_with_parent() -> None:
    """In the child, before exec: a SIGKILLed or power-cut gateway takes its player with it
    (prctl PR_SET_PDEATHSIG), so no sound goes on that nobody logs."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


async def _run(args: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, preexec_fn=_die_with_parent
    )
    try:
        _, err = await proc.communicate()
    except asyncio.CancelledError:
        # pre-empted: stop the sound now, not at the end of the file
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        await proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {err.decode('utf-8', 'replace')[-300:]}")


class AplayPlayer:
    """ALSA line out to the amplifier."""

    def __init__(self, device: str = "") -> None:
        self.device = device

    async def play(self, wav: Path) -> None:
        await _run(["aplay", "-q", *(["-D", self.device] if self.device else []), str(wav)])


class CommandPlayer:
    """Any program that plays a file: `{file}` in its arguments is the WAV."""

    def __init__(self, command: tuple[str, ...]) -> None:
        if not command:
            raise ValueError("[player] command is empty")
        self.command = command

    async def play(self, wav: Path) -> None:
        await _run([part.replace("{file}", str(wav)) for part in self.command])


@dataclass
class RecordingPlayer:
    """A fake for machines without a sound card: records what it was asked to play.
    A test may hold a play open (`hold`) to interrupt it, or make it fail (`fail`)."""

    plays: list[dict[str, Any]] = field(default_factory=list)
    hold: asyncio.Event | None = None
    fail: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def play(self, wav: Path) -> None:
        entry: dict[str, Any] = {"wav": wav, "result": "playing"}
        self.plays.append(entry)
        self.started.set()
        try:
            if self.fail:
                raise RuntimeError("amplifier output failed")
            if self.hold is not None:
                await self.hold.wait()
            entry["result"] = "played"
        except asyncio.CancelledError:
            entry["result"] = "interrupted"
            raise
        except Exception:
            entry["result"] = "failed"
            raise


class FolderPlayer:
    """For a machine without a sound card (a laptop trying Loa): each play is copied into a folder as
    `<time>-<file>.wav`, so a person can listen to exactly what the loudspeakers would have said."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    async def play(self, wav: Path) -> None:
        def copy() -> Path:
            self.folder.mkdir(parents=True, exist_ok=True)
            target = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{wav.name}"
            shutil.copyfile(wav, target)
            return target

        target = await asyncio.to_thread(copy)
        log.info("played into %s (player kind folder: no sound card used)", target)


class GpioRelay:
    """A relay board on a Raspberry Pi pin (gpiozero); most boards switch on when the pin is low."""

    def __init__(self, pin: int, active_low: bool) -> None:
        from gpiozero import OutputDevice  # only on the Pi

        self.device = OutputDevice(pin, active_high=not active_low, initial_value=False)

    async def set(self, on: bool) -> None:
        self.device.value = on


class CommandRelay:
    def __init__(self, on: tuple[str, ...], off: tuple[str, ...]) -> None:
        self.on, self.off = on, off

    async def set(self, on: bool) -> None:
        await _run(list(self.on if on else self.off))


@dataclass
class RecordingRelay:
    states: list[bool] = field(default_factory=list)

    @property
    def on(self) -> bool:
        return bool(self.states and self.states[-1])

    async def set(self, on: bool) -> None:
        self.states.append(on)


class NoRelay:
    async def set(self, on: bool) -> None:
        return None


def make_player(config: PlayerConfig) -> Player:
    if config.kind == "aplay":
        return AplayPlayer(config.device)
    if config.kind == "command":
        return CommandPlayer(config.command)
    if config.kind == "folder":
        return FolderPlayer(config.folder)
    return RecordingPlayer()


def parse_lines(entries: tuple[str, ...]) -> dict[str, str]:
    """[player] lines: "Nà Phìn=22" → {"Nà Phìn": "22"}."""
    out = {}
    for entry in entries:
        name, sep, line = entry.partition("=")
        if not sep or not name.strip() or not line.strip():
            raise ValueError(f'{entry!r} is not hamlet=line, e.g. "Nà Phìn=22"')
        out[name.strip()] = line.strip()
    return out


def make_lines(config: PlayerConfig) -> dict[str, Relay]:
    """Each hamlet's own line relay, by the same kind of relay as the amplifier's."""
    lines: dict[str, Relay] = {}
    for name, line in parse_lines(config.lines).items():
        if config.relay == "gpio":
            lines[name] = GpioRelay(int(line), config.relay_active_low)
        elif config.relay == "command":
            on = tuple(a.replace("{line}", line) for a in config.line_on_command)
            off = tuple(a.replace("{line}", line) for a in config.line_off_command)
            lines[name] = CommandRelay(on, off)
        else:
            lines[name] = RecordingRelay()
    return lines


def make_relay(config: PlayerConfig) -> Relay:
    if config.relay == "gpio":
        return GpioRelay(config.relay_pin, config.relay_active_low)
    if config.relay == "command":
        return CommandRelay(config.relay_on_command, config.relay_off_command)
    if config.relay == "recording":
        return RecordingRelay()
    return NoRelay()


@dataclass
class Outcome:
    result: str  # played | interrupted | failed
    relay: str  # what the relay did: "on→off"
    error: str | None = None
    lines: tuple[str, ...] | None = None  # the hamlets whose line was on; None: one line for all


class Station:
    """One announcement at a time: relay on → warm-up → play → tail → relay off (always).
    A more urgent priority (a smaller Priority) interrupts what is playing and goes first among
    those waiting."""

    def __init__(
        self,
        player: Player,
        relay: Relay,
        warmup: float,
        tail: float,
        sleep: Callable[[float], Any] = asyncio.sleep,
        lines: dict[str, Relay] | None = None,
    ) -> None:
        self.player = player
        self.relay = relay
        self.lines = lines or {}
        self.warmup = warmup
        self.tail = tail
        self.sleep = sleep
        self._busy = False
        self._waiting: list[tuple[Priority, int, asyncio.Future[None]]] = []
        self._seq = 0
        self._current: tuple[Priority, asyncio.Task[Any]] | None = None
        self._preempted: asyncio.Task[Any] | None = None

    async def _acquire(self, priority: Priority) -> None:
        if not self._busy and not self._waiting:
            self._busy = True
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._waiting, (priority, self._seq, fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # it was our turn: pass it on
            else:
                self._waiting = [w for w in self._waiting if w[2] is not fut]
                heapq.heapify(self._waiting)
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, fut = heapq.heappop(self._waiting)
            if not fut.done():
                fut.set_result(None)
                return
        self._busy = False

    def lines_for(self, zones: Sequence[str]) -> tuple[str, ...] | None:
        """The lines an announcement for `zones` switches on: theirs when each has its own, every line
        when it is for the whole commune or a hamlet has none (it then plays everywhere); None: no lines."""
        if not self.lines:
            return None
        if zones and all(z in self.lines for z in zones):
            return tuple(dict.fromkeys(zones))
        return tuple(self.lines)

    def plays_everywhere(self, zones: Sequence[str]) -> list[str]:
        """The hamlets among `zones` without a line of their own: the announcement would play everywhere."""
        return [z for z in zones if z not in self.lines]

    async def reset(self) -> None:
        """At start, before anything plays: the relay off, whatever a power cut left it in."""
        for line in self.lines.values():
            await line.set(False)
        await self.relay.set(False)

    async def broadcast(
        self,
        wav: Path,
        priority: Priority,
        on_relay: Callable[[str], Awaitable[None]] | None = None,
        zones: Sequence[str] = (),
    ) -> Outcome:
        """Play one file; `on_relay` hears "on" as soon as the relay is on, before the sound starts,
        so the log says the amplifier is on even if the power goes during the play."""
        current = self._current
        if current is not None and priority < current[0]:
            log.warning("%s interrupts the announcement playing", priority.name)
            self._preempted = current[1]
            current[1].cancel()
        await self._acquire(priority)
        task = asyncio.current_task()
        assert task is not None
        self._current = (priority, task)
        outcome = Outcome("failed", "")
        relay: list[str] = []
        chosen = self.lines_for(zones)
        switched: list[Relay] = []
        try:
            await self.relay.set(True)
            relay.append("on")
            for name in chosen or ():
                switched.append(self.lines[name])
                await self.lines[name].set(True)
            if on_relay is not None:
                await on_relay("on")
            await self.sleep(self.warmup)
            await self.player.play(wav)
            await self.sleep(self.tail)
            outcome = Outcome("played", "")
        except asyncio.CancelledError:
            if self._preempted is not task:
                raise  # shutting down
            task.uncancel()
            outcome = Outcome("interrupted", "")
        except Exception as e:
            log.exception("announcement failed")
            outcome = Outcome("failed", "", str(e))
        finally:
            for line in reversed(switched):
                try:
                    await line.set(False)
                except Exception:
                    log.exception("a loudspeaker line did not switch off")
            outcome.lines = chosen
            try:
                await self.relay.set(False)
                relay.append("off")
            except Exception:
                log.exception("relay did not switch off")
                relay.append("off FAILED")
            outcome.relay = "→".join(relay)
            self._current = None
            if self._preempted is task:
                self._preempted = None
            self._release()
        return outcome
