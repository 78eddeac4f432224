"""`python -m bench`: every benchmark, one Markdown table, one JSON file, and the machine they ran on."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import Figure, broadcast, faults, keywords, loudspeaker, peers, sms_path, station, transports


def machine() -> dict[str, Any]:
    def first(path: str, key: str) -> str:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return ""

    return {
        "cpu": first("/proc/cpuinfo", "model name") or first("/proc/cpuinfo", "Model") or platform.processor(),
        "cores": os.cpu_count(),
        "memory": first("/proc/meminfo", "MemTotal"),
        "system": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def markdown(figures: list[Figure], peer_results: list[peers.Result], where: dict[str, Any]) -> str:
    lines = [
        f"Machine: {where['cpu']}, {where['cores']} cores, {where['memory']} memory; {where['system']};"
        f" Python {where['python']}; {where['date']}",
        "",
        "| benchmark | figure | value | how |",
        "|---|---|---|---|",
    ]
    for f in figures:
        lines.append(f"| {f.bench} | {f.name} | {f.value:g} {f.unit} | {f.detail} |".replace("  |", " |"))
    return "\n".join([*lines, "", peers.table(peer_results)])


async def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: that every benchmark runs, not figures")
    p.add_argument("--json", default="bench-results.json", help="where the JSON goes (default: %(default)s)")
    p.add_argument(
        "--only", nargs="*", help="some of: sms_path transports keywords broadcast loudspeaker station faults peers"
    )
    args = p.parse_args()
    chosen = set(args.only or ["sms_path", "transports", "keywords", "broadcast", "loudspeaker", "station", "faults",
                                "peers"])  # fmt: skip
    figures: list[Figure] = []
    raw: dict[str, Any] = {}
    peer_results: list[peers.Result] = []
    failed: list[str] = []
    for name, bench in (("sms_path", sms_path), ("transports", transports), ("keywords", keywords),
                        ("broadcast", broadcast), ("loudspeaker", loudspeaker), ("station", station)):  # fmt: skip
        if name in chosen:
            print(f"… {name}", file=sys.stderr, flush=True)
            try:
                figures += await bench.run(args.quick)
            except Exception as e:  # one broken benchmark must not hide the others' figures
                failed.append(f"{name}: {e!r}")
    if "faults" in chosen:
        print("… faults", file=sys.stderr, flush=True)
        try:
            found, raw["faults"] = await faults.run(args.quick)
            figures += found
        except Exception as e:
            failed.append(f"faults: {e!r}")
    if "peers" in chosen:
        print("… peers (Loa, then Gammu SMSD at its defaults and tuned)", file=sys.stderr, flush=True)
        try:
            peer_results = await peers.run(args.quick)
        except Exception as e:
            failed.append(f"peers: {e!r}")
    where = machine()
    print(markdown(figures, peer_results, where))
    document = {
        "machine": where,
        "quick": args.quick,
        "figures": [asdict(f) for f in figures],
        "peers": [asdict(r) for r in peer_results],
        "raw": raw,
        "failed": failed,
    }
    Path(args.json).write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\n(JSON: {args.json})")
    for problem in failed:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
