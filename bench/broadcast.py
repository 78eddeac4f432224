"""Benchmark: enqueue one reminder to 10,000 recipients — the time it takes and the memory it uses."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench import Figure
from broadcasts.queries import Queries
from gateway import config as config_mod
from gateway.app import open_store


async def run(quick: bool = False) -> list[Figure]:
    recipients = 1000 if quick else 10_000
    with tempfile.TemporaryDirectory() as d:
        cfg = config_mod.from_dict(
            {"database": {"path": str(Path(d) / "bench.sqlite3")}, "commune": {"hamlets": ["Nà Phìn"]}},
            source="bench",
        )
        store = open_store(cfg)
        await store.open()
        now = time.time()

        def seed(db: object) -> None:
            conn = db.conn  # type: ignore[attr-defined]
            with conn:
                conn.execute("insert into hamlets (name, folded) values ('Nà Phìn', 'na phin')")
                conn.executemany(
                    "insert into contacts (name, number, hamlet_id, roles, created_at, updated_at)"
                    " values (?, ?, 1, 'resident', ?, ?)",
                    [(f"Người dân {i}", f"+8491{i:07d}", now, now) for i in range(recipients)],
                )

        await store.call(seed)
        q = Queries(cfg.broadcasts, cfg.sms.encoding)
        body = {
            "text": "Chào {ten}, thôn {thon}: ngày {ngay} tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã.",
            "to": {"hamlets": ["Nà Phìn"]},
        }
        # noon: outside the quiet hours, so nothing is deferred
        noon = time.mktime(time.strptime("2026-12-05 12:00", "%Y-%m-%d %H:%M"))

        def fire(db: object, traced: bool) -> tuple[dict[str, object], float, int]:
            q.create_reminder(db, body, noon)  # type: ignore[arg-type]
            if traced:
                tracemalloc.start()
            t0 = time.perf_counter()
            (run,) = q.run_due(db, noon, cfg.broadcasts.misfire_grace)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1] if traced else 0
            tracemalloc.stop()
            return run, elapsed, peak

        # timed without tracemalloc (it slows Python down), then a second reminder measured for memory
        run, elapsed, _ = await store.call(fire, False)
        _, traced_elapsed, peak = await store.call(fire, True)
        queued = await store.call(lambda db: db.execute("select count(*) from outbox").fetchone()[0])
        await store.close()
    return [
        Figure("broadcast", f"one reminder to {recipients:,} recipients queued", round(elapsed * 1000), "ms",
               f"{run['queued']} queued; peak Python memory {peak / 2**20:.1f} MiB (a second reminder under"
               f" tracemalloc, {traced_elapsed * 1000:.0f} ms; {queued} outbox rows)"),
    ]  # fmt: skip


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="1,000 recipients instead of 10,000")
    args = p.parse_args()
    for f in await run(args.quick):
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")


if __name__ == "__main__":
    asyncio.run(main())
