"""Sound as the sources send it: 16-bit mono PCM at one rate, decoded once per item, paced in real time."""

from __future__ import annotations

import array
import asyncio
import math
from pathlib import Path

RATE = 22050  # Hz, mono s16le: speech, and half the bytes of CD rate on the Pi
BYTES_PER_SECOND = RATE * 2
CHUNK = BYTES_PER_SECOND // 25  # 40 ms: what a source writes at a time, so a pre-emption waits at most that


async def decode(wav: Path, rate: int = RATE) -> bytes:
    """The item as raw PCM (ffmpeg decodes any file the renderer or an upload made)."""
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(wav), "-f", "s16le", "-ac", "1", "-ar", str(rate), "-",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg could not read {wav.name}: {err.decode('utf-8', 'replace')[-300:]}")
    return out


def loudness(pcm: bytes, rate: int, window: float = 0.1) -> list[float]:
    """dBFS of each `window` seconds: how a test or the relay's watchdog tells sound from silence."""
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    step = max(1, int(rate * window))
    out = []
    for i in range(0, len(samples) - step + 1, step):
        part = samples[i : i + step]
        rms = math.sqrt(sum(x * x for x in part) / len(part))
        out.append(20 * math.log10(rms / 32768) if rms > 0 else -120.0)
    return out


def sounding(levels: list[float], threshold: float = -45.0) -> list[tuple[int, int]]:
    """Runs of windows louder than `threshold`: [(first, last+1)]."""
    runs: list[tuple[int, int]] = []
    start = None
    for i, db in enumerate([*levels, -120.0]):
        if db > threshold and start is None:
            start = i
        elif db <= threshold and start is not None:
            runs.append((start, i))
            start = None
    return runs
