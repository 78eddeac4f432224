"""Benchmark of the transports: a flood alert's 10,000 two-part messages through SMPP, and a pool of 3 modems."""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

from bench import Figure
from gateway import config as config_mod
from gateway.app import create_app
from gateway.core.keys import STORE
from gateway.sms.encoding import prepare
from gateway.sms.keys import OUTBOX
from gateway.testing import EmulatedModem
from gateway.testing.smsc import Smsc

# 118 characters with diacritics: UCS-2, two parts
ALERT = (
    "Cảnh báo lũ: nước sông Lô đang lên nhanh. Các hộ ven sông thôn Nà Phìn, Khau Phạ đưa người, "
    "gia súc lên chỗ cao ngay."
)


async def _started(raw: dict[str, Any], tmp: Path) -> tuple[web.Application, web.AppRunner]:
    cfg = config_mod.from_dict(
        {"database": {"path": str(tmp / "bench.sqlite3")}, "api": {"tokens": ["bench-token-0000000000"]}, **raw},
        source="bench",
    )
    app = create_app(cfg)
    runner = web.AppRunner(app)
    await runner.setup()
    async with asyncio.timeout(30):
        for channel in app[OUTBOX].channels:
            await channel.transport.wait_connected()
    return app, runner


async def _count(app: web.Application, sql: str) -> int:
    return int(await app[STORE].call(lambda db: db.execute(sql).fetchone()[0]))


async def _poll(app: web.Application, sql: str, n: int, timeout: float) -> float:
    """When `sql` first counted n (polled every 50 ms: the bench's own cost stays small)."""
    async with asyncio.timeout(timeout):
        while await _count(app, sql) < n:
            await asyncio.sleep(0.05)
    return time.perf_counter()


async def _enqueue(app: web.Application, numbers: list[str], text: str, priority: str) -> None:
    prepared = prepare(text, "auto")
    for start in range(0, len(numbers), 1000):
        await app[OUTBOX].enqueue(numbers[start : start + 1000], prepared, priority=priority, source="bench")


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def smpp_batch(n: int) -> dict[str, float]:
    """n two-part Vietnamese messages queued at once, through SMPP to the test SMSC (its own process)."""
    assert prepare(ALERT, "auto").segments == 2
    with tempfile.TemporaryDirectory() as d:
        smsc = await Smsc.start(quiet=True)
        smpp = {"enabled": True, "port": smsc.port, "system_id": "loa", "password": "pw", "source_addr": "UBND XA"}
        app, runner = await _started({"modem": {"port": "none"}, "smpp": smpp}, Path(d))
        numbers = [f"+8496{i:07d}" for i in range(n)]
        rss0 = _rss_mb()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await _enqueue(app, numbers, ALERT, "alert")
        queued = time.perf_counter()
        last_submit = await _poll(app, "select count(*) from outbox_parts", 2 * n, 600)
        cpu_submit = time.process_time() - cpu0
        last_receipt = await _poll(app, "select count(*) from outbox where status='delivered'", n, 600)
        cpu_all = time.process_time() - cpu0
        taken = await smsc.count()
        await runner.cleanup()
        await smsc.close()
    return {
        "messages": n, "parts": 2 * n, "smsc_submits": taken["submits"],
        "queue_s": queued - t0, "last_submit_s": last_submit - t0, "last_receipt_s": last_receipt - t0,
        "submits_per_s": 2 * n / (last_submit - t0),
        "cpu_ms_per_message_to_submit": cpu_submit / n * 1000, "cpu_ms_per_message_all": cpu_all / n * 1000,
        "rss_growth_mb": _rss_mb() - rss0,
    }  # fmt: skip


async def pool(
    n: int, delay: float, modems: int = 3, *, family: str = "huawei", reports: bool = False, command_delay: float = 0.0
) -> dict[str, Any]:
    """n one-part reminders through `modems` emulated sticks of `delay` s per submit each (and
    `command_delay` s per other command); with `reports`, each part asks for a delivery report and
    the network sends it at once, as the batch goes on."""
    with tempfile.TemporaryDirectory() as d:
        emus = [
            EmulatedModem(family, submit_delay=delay, command_delay=command_delay, auto_report=reports,
                          link_dir=Path(d) / f"m{i}")
            for i in range(modems)
        ]  # fmt: skip
        for emu in emus:
            await emu.start()
        first: list[float] = []

        def mark(line: str) -> None:
            if not first and line.startswith("AT+CMGS"):
                first.append(time.perf_counter())

        for emu in emus:
            emu.on_command = mark
        raw: dict[str, Any] = {"modem": {"port": emus[0].path}, "modems": [{"port": e.path} for e in emus[1:]]}
        raw["sms"] = {"status_reports": reports}
        app, runner = await _started(raw, Path(d))
        await _enqueue(app, [f"+8491{i:07d}" for i in range(n)], "Họp thôn tối nay lúc 19h tại nhà văn hoá", "reminder")
        async with asyncio.timeout(600):
            while sum(len(e.sent) for e in emus) < n:
                await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - first[0]
        if reports:  # every report read, matched and written before the batch counts as done
            await _poll(app, "select count(*) from outbox where status='delivered'", n, 600)
        commands = sum(len(e.commands) for e in emus)
        sent = [len(e.sent) for e in emus]
        distinct = len({p.number for e in emus for p in e.sent})
        await runner.cleanup()
        for emu in emus:
            await emu.close()
    ideal = n * delay / modems
    return {
        "messages": n, "delay_s": delay, "elapsed_s": elapsed, "ideal_s": ideal, "ratio": elapsed / ideal,
        "per_modem": sent, "utilisation": [s * delay / elapsed for s in sent], "distinct": distinct,
        "commands": commands,
    }  # fmt: skip


async def reports(n: int, delay: float, command_delay: float) -> dict[str, dict[str, Any]]:
    """The pool's batch send-only and with delivery reports, side by side: a 3G stick (reports
    stored, read in batches) and an LTE module (reports routed, acknowledged with AT+CNMA)."""
    out = {}
    for family in ("huawei", "ec25"):
        for with_reports in (False, True):
            out[f"{family}{'+reports' if with_reports else ''}"] = await pool(
                n, delay, family=family, reports=with_reports, command_delay=command_delay
            )
    return out


async def run(quick: bool = False) -> list[Figure]:
    n, pool_n = (300, 30) if quick else (10_000, 600)
    s = await smpp_batch(n)
    p = await pool(pool_n, 0.2)
    assert s["smsc_submits"] == 2 * n and p["distinct"] == pool_n, (s, p)  # none lost, none twice
    util = ", ".join(f"{u:.3f}" for u in p["utilisation"])
    r = await reports(pool_n, 0.2, 0.01)
    assert all(x["distinct"] == pool_n for x in r.values()), r
    side = [
        Figure("transports", f"pool of 3 {family} modems: with reports ÷ send-only ({pool_n} SMS)",
               round(r[f"{family}+reports"]["elapsed_s"] / r[family]["elapsed_s"], 3), "",
               f"{r[family]['elapsed_s']:.1f} s send-only, {r[f'{family}+reports']['elapsed_s']:.1f} s with reports "
               f"({how}); AT commands {r[family]['commands']} vs {r[f'{family}+reports']['commands']}; "
               f"200 ms/submit, 10 ms/command; utilisation with reports "
               + ", ".join(f"{u:.3f}" for u in r[f"{family}+reports"]["utilisation"]))
        for family, how in (("huawei", "stored in SR, read in batches"), ("ec25", "+CDS routed, AT+CNMA"))
    ]  # fmt: skip
    return [
        *side,
        Figure("transports", f"SMPP: {n} two-part messages queued to the last submit_sm", round(s["last_submit_s"], 1),
               "s", f"{s['submits_per_s']:.0f} submit_sm/s; queued in {s['queue_s']:.2f} s; npm smpp SMSC, window 50"),
        Figure("transports", "SMPP: gateway CPU per message to the last submit",
               round(s["cpu_ms_per_message_to_submit"], 2), "ms",
               f"{s['cpu_ms_per_message_all']:.2f} ms with its 2 receipts written"),
        Figure("transports", "SMPP: queued to the last receipt", round(s["last_receipt_s"], 1), "s",
               f"{2 * n} receipts; memory grew {s['rss_growth_mb']:.0f} MB (peak RSS)"),
        Figure("transports", f"pool of 3 modems: batch time ÷ ideal ({pool_n} SMS, 200 ms/submit)",
               round(p["ratio"], 3), "",
               f"{p['elapsed_s']:.1f} s vs {p['ideal_s']:.1f} s; utilisation {util}; parts {p['per_modem']}"),
    ]  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: a check that it runs")
    args = p.parse_args()
    for f in await run(args.quick):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")


if __name__ == "__main__":
    asyncio.run(main())
