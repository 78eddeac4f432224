"""The station's as-played log per output and the report the province reads (CSV and JSON, by day or month)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import sqlite_utils

from gateway.core.store import transaction
from station.outputs import Item, Proof

COLUMNS = ["started_at", "ended_at", "seconds", "output", "kind", "item", "title", "level", "zones", "result",
           "error", "proof"]  # fmt: skip


def _m001_station(db: sqlite_utils.Database) -> None:
    # one row per output per item: the proof of broadcast the province asks for, output by output
    db.table("station_plays").create(
        {"id": int, "started_at": float, "ended_at": float, "output": str, "kind": str, "item": int, "title": str,
         "level": str, "zones": str, "result": str, "error": str, "proof": str},
        pk="id",
    )  # fmt: skip
    db.table("station_plays").create_index(["started_at"])


def _m002_relays(db: sqlite_utils.Database) -> None:
    # the provincial programme relayed at fixed hours: a stream URL, zones, times, a duration, a fallback
    db.table("station_relays").create(
        {"id": int, "name": str, "url": str, "zones": str, "times": str, "minutes": int, "silence": int,
         "fallback": str, "level": str, "enabled": int, "created_at": float, "next_at": float},
        pk="id",
    )  # fmt: skip


MIGRATIONS = [("025_station", _m001_station), ("025_station_relays", _m002_relays)]


def record(db: sqlite_utils.Database, item: Item, proofs: list[Proof]) -> None:
    with transaction(db):
        for p in proofs:
            db.execute(
                "insert into station_plays (started_at, ended_at, output, kind, item, title, level, zones, result,"
                " error, proof) values (?,?,?,?,?,?,?,?,?,?,?)",
                [p.started_at, p.ended_at, p.output, item.kind, item.ref, item.title[:200], item.level,
                 json.dumps(list(item.zones), ensure_ascii=False), p.result, p.error,
                 json.dumps(p.detail, ensure_ascii=False)],
            )  # fmt: skip


def plays(db: sqlite_utils.Database, start: float, end: float, limit: int = 10000) -> list[dict[str, Any]]:
    rows = db.query(
        "select * from station_plays where started_at>=? and started_at<? order by started_at, id limit ?",
        [start, end, limit],
    )
    return [
        r | {"zones": json.loads(r["zones"] or "[]"), "proof": json.loads(r["proof"] or "{}"),
             "seconds": round(max(0.0, (r["ended_at"] or 0) - (r["started_at"] or 0)), 1)}
        for r in rows
    ]  # fmt: skip


def as_csv(rows: list[dict[str, Any]], when: Any) -> str:
    """One line per output per item; times in the commune's zone (`when` formats a timestamp)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([when(r["started_at"]), when(r["ended_at"]), r["seconds"], r["output"], r["kind"], r["item"],
                    r["title"], r["level"], ", ".join(r["zones"]) or "cả xã", r["result"], r["error"] or "",
                    json.dumps(r["proof"], ensure_ascii=False)])  # fmt: skip
    return out.getvalue()
