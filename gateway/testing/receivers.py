"""Receivers that are real processes: ffmpeg reading an Icecast mount or an RTP stream into a file,
watched as it grows, so a test or the benchmark knows what was heard and when."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from station.pcm import loudness, sounding

RATE = 8000  # what a receiver records: enough to tell sound from silence, and its length
WINDOW = 0.05  # seconds per loudness window


class Receiver:
    def __init__(self, source: str, folder: Path, name: str, *, rtp: bool = False) -> None:
        self.source, self.file, self.rtp = source, folder / f"{name}.raw", rtp
        self.proc: asyncio.subprocess.Process | None = None
        self.sizes: list[tuple[float, int]] = []  # (wall time, bytes on disk): when each byte arrived
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # the format named and nothing to analyse: without them ffmpeg buffers ~5 s before it writes a byte
        pre = ["-protocol_whitelist", "file,udp,rtp", "-reorder_queue_size", "0"] if self.rtp else ["-f", "mp3"]
        self.proc = await asyncio.create_subprocess_exec(
            "ffmpeg", "-nostdin", "-loglevel", "error", "-fflags", "nobuffer", "-probesize", "32",
            "-analyzeduration", "1", *pre, "-i", self.source, "-f", "s16le", "-ac", "1", "-ar", str(RATE),
            "-flush_packets", "1", "-y", str(self.file),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self._watch = asyncio.create_task(self._sizes())

    async def _sizes(self) -> None:
        last = -1
        while True:
            size = self.file.stat().st_size if self.file.exists() else 0
            if size != last:
                self.sizes.append((time.time(), size))
                last = size
            await asyncio.sleep(0.01)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def levels(self) -> list[float]:
        return loudness(self.file.read_bytes() if self.file.exists() else b"", RATE, WINDOW)

    def heard(self, threshold: float = -45.0) -> list[tuple[float, float, float]]:
        """Each stretch of sound: (seconds into the recording, how long, its mean dBFS)."""
        levels = self.levels()
        return [(a * WINDOW, (b - a) * WINDOW, sum(levels[a:b]) / (b - a)) for a, b in sounding(levels, threshold)]

    def ended(self, threshold: float = -45.0) -> bool:
        """Some sound was heard and the last of it was followed by 0.3 s of quiet."""
        found = self.heard(threshold)
        return bool(found) and found[-1][0] + found[-1][1] < len(self.levels()) * WINDOW - 0.3

    def arrived(self, offset: float) -> float:
        """The wall time the byte `offset` seconds into the recording reached the receiver's file."""
        target = int(offset * RATE * 2)
        return next((t for t, size in self.sizes if size > target), float("inf"))

    async def until(self, check: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait (bounded) until what was heard satisfies `check`."""
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110 - a file another process writes: nothing to await
                await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            await self.proc.wait()


async def poll(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    """Wait (bounded) until an async check holds: for state no notifier announces (Icecast's)."""
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - another process's state: nothing to await
            await asyncio.sleep(0.05)


async def tone(path: Path, seconds: float, db: float = -12.0, frequency: int = 440) -> Path:
    """A test item: a sine of known length and loudness."""
    volume = 10 ** ((db + 21.07) / 20)  # ffmpeg's sine has an amplitude of 1/8: -21.07 dBFS RMS
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
        f"sine=frequency={frequency}:duration={seconds}:sample_rate=22050", "-af", f"volume={volume:.4f}",
        "-ac", "1", "-y", str(path),
    )  # fmt: skip
    await proc.wait()
    return path
