"""Once a day: old rendered audio goes (never what a draft or a schedule will play), the WAL is folded."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from audio.render import prune
from gateway.testing import AUTH, EmulatedModem, FakeClock, at, sql
from schedules.keys import SCHEDULER

OLD = time.time() - 40 * 86400


def render(cache: Path, key: str, when: float, size: int = 1000) -> Path:
    path = cache / f"{key}.wav"
    path.write_bytes(b"\0" * size)
    os.utime(path, (when, when))
    return path


def test_old_and_surplus_renders_go_clips_and_kept_ones_stay(tmp_path: Path) -> None:
    cache = tmp_path / "audio"
    (cache / "clips").mkdir(parents=True)
    clip = cache / "clips" / ("c" * 64 + ".wav")
    clip.write_bytes(b"\0" * 10)
    os.utime(clip, (OLD, OLD))
    chime = render(cache, "chime-0123456789abcdef", OLD)
    old, kept = render(cache, "a" * 24, OLD), render(cache, "b" * 24, OLD)
    preview = cache / ("a" * 24 + ".mp3")
    preview.write_bytes(b"\0")
    os.utime(preview, (OLD, OLD))
    recent = [render(cache, f"{i:024x}", time.time() - 3600 * (10 - i), size=4000) for i in range(10)]
    removed = prune(cache, {"b" * 24}, time.time(), 30 * 86400, max_bytes=20_000)
    assert set(removed) >= {old, preview}
    assert kept.exists() and clip.exists() and chime.exists()
    # beyond the size, the oldest recent ones go first
    left = [p for p in recent if p.exists()]
    assert left == recent[len(recent) - len(left) :] and sum(p.stat().st_size for p in cache.glob("*.*")) <= 20_000


async def test_the_daily_job_keeps_what_a_draft_will_play(emulator: EmulatedModem, start_gateway: Any,
                                                           tmp_path: Path) -> None:  # fmt: skip
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    client = await start_gateway(emulator, clock=clock)
    made = await client.post("/api/v1/announcements", json={"text": "Họp thôn", "repeat": 1}, headers=AUTH)
    key = (await made.json())["audio_key"]
    cache = tmp_path / "audio"
    os.utime(cache / f"{key}.wav", (OLD, OLD))  # an old draft: still kept
    stale = render(cache, "f" * 24, OLD)
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 11, 0))
    assert not stale.exists() and (cache / f"{key}.wav").exists()
    assert await sql(client, "select count(*) from announcements") == [(1,)]
