"""Benchmark of the SMS path against the emulator: modem utilisation, CPU per SMS, inbound latency."""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from bench import Figure
from gateway import config as config_mod
from gateway.app import create_app
from gateway.core.keys import NOTIFIER, STORE
from gateway.sms.encoding import prepare
from gateway.sms.keys import OUTBOX, TRANSPORT
from gateway.testing import EmulatedModem


def _config(tmp: Path, port: str) -> config_mod.Config:
    return config_mod.from_dict(
        {
            "database": {"path": str(tmp / "bench.sqlite3")},
            "modem": {"port": port},
            "api": {"tokens": ["bench-token-0000000000"]},
        },
        source="bench",
    )


async def _started(cfg: config_mod.Config) -> tuple[web.Application, web.AppRunner]:
    app = create_app(cfg)
    runner = web.AppRunner(app)
    await runner.setup()  # runs the cleanup contexts: store, modem, sender
    async with asyncio.timeout(30):
        await app[TRANSPORT].wait_connected()
    return app, runner


async def _count(app: web.Application, sql: str) -> int:
    return int(await app[STORE].call(lambda db: db.execute(sql).fetchone()[0]))


async def _wait_count(app: web.Application, sql: str, n: int) -> None:
    async def done() -> bool:
        return await _count(app, sql) >= n

    async with asyncio.timeout(120):
        await app[NOTIFIER].wait_until(done)


async def _enqueue(app: web.Application, n: int) -> None:
    for start in range(0, n, 100):
        batch = [f"+8491{i:07d}" for i in range(start, min(n, start + 100))]
        await app[OUTBOX].enqueue(
            batch,
            prepare("Nhắc lịch tiêm chủng sáng thứ Hai tại trạm y tế xã", "auto"),
            priority="reminder",
            source="bench",
        )


async def utilisation(n: int, delay: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        emu = EmulatedModem("huawei", submit_delay=delay, link_dir=d)
        await emu.start()
        app, runner = await _started(_config(Path(d), emu.path))
        first: list[float] = []

        def mark_first_submit(line: str) -> None:
            if not first and line.startswith("AT+CMGS"):
                first.append(time.perf_counter())

        emu.on_command = mark_first_submit
        await _enqueue(app, n)
        async with asyncio.timeout(600):
            await emu.wait_sent(n)
        elapsed = time.perf_counter() - first[0]
        await runner.cleanup()
        await emu.close()
    achieved = n / elapsed * 60
    ideal = 60 / delay
    return {"per_minute": achieved, "max_per_minute": ideal, "utilisation": achieved / ideal}


async def cpu_per_sms(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        # the emulator runs in its own process so that only the gateway's CPU is counted
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "emulator",
            "--submit-delay",
            "0",
            "--link-dir",
            d,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = (await proc.stdout.readline()).decode()
        port = re.search(r"at: (\S+)", line).group(1)  # type: ignore[union-attr]
        drain = asyncio.create_task(proc.stdout.read())
        app, runner = await _started(_config(Path(d), port))
        await _enqueue(app, 20)  # warm up
        await _wait_count(app, "select count(*) from outbox where status='sent'", 20)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await _enqueue(app, n)
        await _wait_count(app, "select count(*) from outbox where status='sent'", n + 20)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - wall0
        await runner.cleanup()
        proc.terminate()
        await proc.wait()
        drain.cancel()
    return {"cpu_ms_per_sms": cpu / n * 1000, "sms_per_minute": n / wall * 60}


async def inbound_latency(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        emu = EmulatedModem("huawei", link_dir=d)
        await emu.start()
        app, runner = await _started(_config(Path(d), emu.path))
        samples = []
        for i in range(n):
            t0 = time.perf_counter()
            emu.deliver("+84961234567", f"Câu hỏi số {i}")
            await _wait_count(app, "select count(*) from inbox", i + 1)
            samples.append((time.perf_counter() - t0) * 1000)
        await runner.cleanup()
        await emu.close()
    samples.sort()
    return {
        "median_ms": statistics.median(samples),
        "p95_ms": samples[int(0.95 * (len(samples) - 1))],
        "max_ms": samples[-1],
    }


async def run(quick: bool = False) -> list[Figure]:
    n, cpu_n, inbound = (20, 100, 20) if quick else (150, 1000, 100)
    u = await utilisation(n, 0.2)
    c = await cpu_per_sms(cpu_n)
    i = await inbound_latency(inbound)
    return [
        Figure("sms_path", "modem utilisation at 200 ms per submit", round(u["utilisation"], 3), "",
               f"{u['per_minute']:.1f} of {u['max_per_minute']:.0f} SMS/min, {n} messages"),
        Figure("sms_path", "gateway CPU per outbound SMS", round(c["cpu_ms_per_sms"], 2), "ms",
               f"zero modem delay, {c['sms_per_minute']:.0f} SMS/min, {cpu_n} messages"),
        Figure("sms_path", "inbound +CMTI to row in SQLite, median", round(i["median_ms"], 1), "ms",
               f"p95 {i['p95_ms']:.1f} ms, max {i['max_ms']:.1f} ms, {inbound} SMS"),
    ]  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: a check that it runs")
    args = p.parse_args()
    for f in await run(args.quick):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")


if __name__ == "__main__":
    asyncio.run(main())
