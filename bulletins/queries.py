"""The bulletins' tables: each warning received or typed, its plays, the hamlets' points, the feeds' links
seen. Store functions (sync, on the store thread); each write one transaction."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.store import transaction

LIVE = ("pending", "active")  # states in which a warning still does something


def _m001_bulletins(db: sqlite_utils.Database) -> None:
    db.table("bulletins").create(
        {
            "id": int,
            "sender": str,
            "identifier": str,
            "origin": str,  # cap (posted), feed (polled), form (typed from a fax or Zalo)
            "msg_type": str,
            "refs": str,  # JSON [[sender, identifier], …]
            "status": str,  # pending, active, done, stopped, expired, ignored
            "reason": str,
            "issuer": str,
            "hazard": str,
            "headline": str,
            "text": str,
            "instruction": str,
            "level": int,
            "urgent": int,
            "cadence": str,
            "issued_at": float,
            "expires_at": float,
            "zones": str,  # JSON hamlet names; [] = the whole commune
            "hold_until": float,
            "first_play_at": float,
            "next_play_at": float,
            "plays": int,
            "alert_id": int,
            "sms": int,
            "xml": str,
            "created_at": float,
            "stopped_at": float,
            "stopped_by": str,
        },
        pk="id",
        not_null={"sender", "identifier", "origin", "status", "created_at"},
        defaults={"plays": 0, "sms": 0, "reason": ""},
    )
    db.table("bulletins").create_index(["sender", "identifier"], unique=True)
    db.table("bulletins").create_index(["status", "next_play_at"])
    db.table("bulletin_plays").create(
        {"id": int, "bulletin_id": int, "n": int, "at": float, "announcement_id": int}, pk="id"
    )
    db.table("bulletin_plays").create_index(["bulletin_id"])
    # a hamlet's point, kept here (not as columns of the floor's hamlets table), keyed by its id
    db.table("bulletin_points").create({"hamlet_id": int, "lat": float, "lon": float}, pk="hamlet_id")
    db.table("bulletin_feed_links").create({"url": str, "seen_at": float}, pk="url")


MIGRATIONS = [("bulletins_001", _m001_bulletins)]


def row(db: sqlite_utils.Database, bulletin_id: int) -> dict[str, Any]:
    rows = list(db.query("select * from bulletins where id=?", [bulletin_id]))
    if not rows:
        raise NotFound(f"Không có bản tin cảnh báo số {bulletin_id}", id=bulletin_id)
    r = rows[0]
    return r | {"zones": json.loads(r["zones"] or "[]"), "refs": json.loads(r["refs"] or "[]")}


def find(db: sqlite_utils.Database, sender: str, identifier: str) -> int | None:
    found = db.execute("select id from bulletins where sender=? and identifier=?", [sender, identifier]).fetchone()
    return None if found is None else int(found[0])


def insert(db: sqlite_utils.Database, values: dict[str, Any]) -> int | None:
    """The new bulletin's id; None when (sender, identifier) is already kept (a duplicate)."""
    values = values | {
        "zones": json.dumps(values.get("zones", []), ensure_ascii=False),
        "refs": json.dumps(values.get("refs", []), ensure_ascii=False),
    }
    cols = ", ".join(values)
    marks = ", ".join(f":{k}" for k in values)
    with transaction(db):
        cur = db.execute(f"insert or ignore into bulletins ({cols}) values ({marks})", values)
    return cur.lastrowid if cur.rowcount else None


def update(db: sqlite_utils.Database, bulletin_id: int, /, **values: Any) -> None:
    sets = ", ".join(f"{k}=:{k}" for k in values)
    with transaction(db):
        db.execute(f"update bulletins set {sets} where id=:id", values | {"id": bulletin_id})


def begin(db: sqlite_utils.Database, bulletin_id: int, now: float) -> bool:
    """pending → active (its first play due now); False when it was no longer pending (stopped meanwhile)."""
    with transaction(db):
        return (
            db.execute(
                "update bulletins set status='active', hold_until=null, first_play_at=?, next_play_at=?"
                " where id=? and status='pending'",
                [now, now, bulletin_id],
            ).rowcount
            > 0
        )


def stop(db: sqlite_utils.Database, bulletin_id: int, by: str, now: float, status: str = "stopped") -> dict[str, Any]:
    """No more plays; the row as it was before (its alert, its status)."""
    with transaction(db):
        before = row(db, bulletin_id)
        if before["status"] in LIVE:
            db.execute(
                "update bulletins set status=?, next_play_at=null, hold_until=null, stopped_at=?, stopped_by=?"
                " where id=?",
                [status, now, by, bulletin_id],
            )
    return before


def next_due(db: sqlite_utils.Database) -> float | None:
    """The next play, the end of a wait for an official, or an expiry."""
    found = db.execute(
        "select min(t) from (select next_play_at as t from bulletins where status='active'"
        " union all select hold_until from bulletins where status='pending'"
        " union all select expires_at from bulletins where status in ('pending','active'))"
    ).fetchone()[0]
    return None if found is None else float(found)


def held_due(db: sqlite_utils.Database, now: float) -> list[int]:
    return [r[0] for r in db.execute("select id from bulletins where status='pending' and hold_until<=?", [now])]


def plays_due(db: sqlite_utils.Database, now: float) -> list[dict[str, Any]]:
    rows = db.query("select id from bulletins where status='active' and next_play_at<=? order by id", [now])
    return [row(db, r["id"]) for r in rows]


def record_play(
    db: sqlite_utils.Database, bulletin_id: int, n: int, at: float, announcement_id: int | None,
    next_at: float | None,
) -> None:  # fmt: skip
    with transaction(db):
        db.execute(
            "insert into bulletin_plays (bulletin_id, n, at, announcement_id) values (?,?,?,?)",
            [bulletin_id, n, at, announcement_id],
        )
        db.execute(
            # no play left: done, or (with an expiry) active until it expires, when its alert closes too
            "update bulletins set plays=?, next_play_at=?,"
            " status=case when ? is null and expires_at is null then 'done' else status end"
            " where id=? and status='active'",
            [n + 1, next_at, next_at, bulletin_id],
        )


def plays(db: sqlite_utils.Database, bulletin_id: int) -> list[dict[str, Any]]:
    return list(db.query("select * from bulletin_plays where bulletin_id=? order by n", [bulletin_id]))


def expiring(db: sqlite_utils.Database, now: float) -> list[int]:
    """Live warnings past their expiry: they stop, and are kept as they were (inert)."""
    return [
        r[0]
        for r in db.execute(
            "select id from bulletins where status in ('pending','active') and expires_at is not null"
            " and expires_at<=?",
            [now],
        )
    ]


def recent(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    ids = [r[0] for r in db.execute("select id from bulletins order by id desc limit ?", [limit])]
    return [row(db, i) for i in ids]


def own(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    """What the commune itself said: the bulletins that went out, newest first."""
    ids = [
        r[0]
        for r in db.execute(
            "select id from bulletins where status not in ('ignored','pending') or origin='form'"
            " order by id desc limit ?",
            [limit],
        )
    ]
    return [row(db, i) for i in ids]


def points(db: sqlite_utils.Database) -> dict[int, tuple[float, float]]:
    return {int(h): (float(a), float(o)) for h, a, o in db.execute("select hamlet_id, lat, lon from bulletin_points")}


def set_point(db: sqlite_utils.Database, hamlet_id: int, lat: float | None, lon: float | None) -> None:
    if lat is None or lon is None:
        with transaction(db):
            db.execute("delete from bulletin_points where hamlet_id=?", [hamlet_id])
        return
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise InvalidRequest("Toạ độ ngoài phạm vi (vĩ độ −90…90, kinh độ −180…180)", field="lat")
    with transaction(db):
        db.execute("insert or replace into bulletin_points (hamlet_id, lat, lon) values (?,?,?)", [hamlet_id, lat, lon])


def seen(db: sqlite_utils.Database, url: str, now: float) -> bool:
    """True when the feed's link was fetched before; marks it seen otherwise."""
    with transaction(db):
        cur = db.execute("insert or ignore into bulletin_feed_links (url, seen_at) values (?,?)", [url, now])
    return cur.rowcount == 0
