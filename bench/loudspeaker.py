"""Benchmark: cold and cached render of a 60-second announcement, and the start jitter of 100 plays."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from aiohttp import web

from audio.config import AudioConfig
from audio.player import RecordingPlayer
from audio.render import Renderer
from bench import Figure
from broadcasts.keys import ANNOUNCER
from gateway import config as config_mod
from gateway.app import create_app
from gateway.core.keys import NOTIFIER, STORE
from gateway.sms.keys import TRANSPORT
from gateway.testing.emulator import EmulatedModem
from schedules.keys import SCHEDULER

NOTICE = (
    "Thông báo của Ủy ban nhân dân xã: 7h30 sáng thứ Hai, ngày 15/12/2026, trạm y tế xã tổ chức tiêm chủng "
    "cho trẻ dưới 5 tuổi. Đề nghị các gia đình có con trong độ tuổi đưa trẻ đến đúng giờ, mang theo sổ tiêm "
    "chủng và thẻ BHYT của trẻ. Trẻ đang ốm sốt cần báo cán bộ y tế trước khi tiêm. Mọi thắc mắc xin liên hệ "
    "trạm y tế xã qua số 0912345678 trong giờ hành chính."
)


async def render_times(cache: Path) -> tuple[float, float, float]:
    renderer = Renderer(AudioConfig(cache_dir=str(cache)))
    try:
        recipe = renderer.recipe(text=NOTICE, repeat=2)
        t0 = time.perf_counter()
        cold = await renderer.render(recipe)
        cold_s = time.perf_counter() - t0
        cached_times = []
        for _ in range(20):
            t0 = time.perf_counter()
            await renderer.render(renderer.recipe(text=NOTICE, repeat=2))
            cached_times.append(time.perf_counter() - t0)
        return cold.seconds, cold_s, statistics.median(cached_times)
    finally:
        renderer.close()


async def jitter(tmp: Path, plays: int) -> list[float]:
    emulator = EmulatedModem("huawei", link_dir=tmp / "modem")
    await emulator.start()
    try:
        return await _jitter(tmp, plays, emulator.path)
    finally:
        await emulator.close()


async def _jitter(tmp: Path, plays: int, port: str) -> list[float]:
    cfg = config_mod.from_dict(
        {
            "database": {"path": str(tmp / "bench.sqlite3")},
            "modem": {"port": port},
            "api": {"tokens": ["bench-token-0000000000"]},
            "audio": {"cache_dir": str(tmp / "audio")},
            "player": {"kind": "recording", "warmup": 0.0, "tail": 0.0},
        },
        source="bench",
    )
    app = create_app(cfg, player=RecordingPlayer())
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        async with asyncio.timeout(30):
            await app[TRANSPORT].wait_connected()
        announcer = app[ANNOUNCER]
        start = time.time() + 3.0
        for i in range(plays):
            when = datetime.fromtimestamp(start + i * 0.25).astimezone().isoformat()
            made = await announcer.create({"text": "Họp thôn lúc 19h", "repeat": 1, "when": {"at": when}})
            await announcer.store.call(announcer.approve, made["id"], time.time())
        app[SCHEDULER].wake()

        async def all_logged() -> bool:
            rows = await app[STORE].call(
                lambda db: db.execute("select count(*) from broadcast_log where result!='playing'").fetchone()[0]
            )
            return int(rows) >= plays

        async with asyncio.timeout(120):
            await app[NOTIFIER].wait_until(all_logged)
        rows = await app[STORE].call(
            lambda db: db.execute("select started_at - planned_at, result from broadcast_log").fetchall()
        )
        assert all(r[1] in ("played", "late") for r in rows), rows
        return [r[0] for r in rows]
    finally:
        await runner.cleanup()


async def run(quick: bool = False) -> list[Figure]:
    plays = 10 if quick else 100
    with tempfile.TemporaryDirectory() as d:
        seconds, cold, cached = await render_times(Path(d) / "cache")
        lags = sorted(await jitter(Path(d), plays))
    return [
        Figure("loudspeaker", f"render of a {seconds:.0f}-second announcement, cold", round(cold, 2), "s",
               f"from the cache {cached * 1000:.2f} ms"),
        Figure("loudspeaker", "start jitter of scheduled plays, median", round(statistics.median(lags) * 1000, 1), "ms",
               f"p95 {lags[int(0.95 * (len(lags) - 1))] * 1000:.1f} ms, max {lags[-1] * 1000:.1f} ms, {plays} plays"),
    ]  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="10 plays instead of 100")
    args = p.parse_args()
    for f in await run(args.quick):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")


if __name__ == "__main__":
    asyncio.run(main())
