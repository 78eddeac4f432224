"""The adapters' store functions: accepted messages (with the outbox's enqueue, in one transaction)
and the callbacks owed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from gateway.core.errors import LimitReached
from gateway.core.store import transaction
from gateway.sms import queue as outbox_db
from gateway.sms.encoding import Prepared

DAY = 86400.0


@dataclass(frozen=True)
class Receipt:
    """Where and how the fate of a message accepted through an adapter is told."""

    system: str
    external_id: str = ""
    sender: str = ""
    dlr_url: str = ""
    dlr_mask: int = 0
    dlr_method: str = "GET"


def accept(
    db: sqlite_utils.Database, recipients: list[tuple[str, str]], prepared: Prepared, priority: str, receipt: Receipt,
    now: float, not_before: float, daily_segments: int,
) -> list[int]:  # fmt: skip
    """Queue the message to each (as given, normalised) recipient and remember whom to tell, in one
    transaction, within the adapter's segments in 24 hours (0 = no ceiling)."""
    with transaction(db):
        if daily_segments:
            used = db.execute(
                "select coalesce(sum(segments), 0) from compat_messages where system=? and created_at>=?",
                [receipt.system, now - DAY],
            ).fetchone()[0]
            wanted = prepared.segments * len(recipients)
            if used + wanted > daily_segments:
                raise LimitReached(
                    f"Vượt hạn mức {daily_segments} tin một ngày của {receipt.system}: đã gửi {used}, lần này {wanted}",
                    used=used, wanted=wanted, limit=daily_segments,
                )  # fmt: skip
        ids = outbox_db.enqueue_many(
            db, [(number, prepared, not_before) for _, number in recipients], outbox_db.PRIORITIES[priority],
            f"compat:{receipt.system}", now,
        )  # fmt: skip
        db.conn.executemany(
            "insert into compat_messages (outbox_id, system, external_id, recipient, sender, segments, dlr_url,"
            " dlr_mask, dlr_method, last_status, open, created_at) values (?,?,?,?,?,?,?,?,?,'queued',1,?)",
            [
                (i, receipt.system, receipt.external_id, to, receipt.sender, prepared.segments, receipt.dlr_url,
                 receipt.dlr_mask, receipt.dlr_method, now)
                for i, (to, _) in zip(ids, recipients, strict=True)
            ],
        )  # fmt: skip
    return ids


def known(db: sqlite_utils.Database, system: str, external_id: str) -> int | None:
    """The outbox id of a message this system already gave under this id (a retried request)."""
    row = db.execute(
        "select outbox_id from compat_messages where system=? and external_id=? limit 1", [system, external_id]
    ).fetchone()
    return None if row is None else int(row[0])


def open_messages(db: sqlite_utils.Database, since: float) -> list[dict[str, Any]]:
    """Messages whose fate is not told yet; older than `since` they are closed (no report comes so late)."""
    with transaction(db):
        db.execute("update compat_messages set open=0 where open=1 and created_at<?", [since])
    return list(db.query("select * from compat_messages where open=1 order by outbox_id"))


def prune(db: sqlite_utils.Database, before: float) -> int:
    """Calls made or given up before `before`: their record is no longer needed."""
    with transaction(db):
        return db.execute("delete from compat_callbacks where done_at is not null and done_at<?", [before]).rowcount


def owe(db: sqlite_utils.Database, calls: list[dict[str, Any]], outbox_id: int | None, status: str, now: float) -> None:
    """Record the callbacks a change of status (or a resident's message) owes, and the status seen."""
    with transaction(db):
        for c in calls:
            db.execute(
                "insert into compat_callbacks (kind, system, method, url, body, headers, expect, reply_to,"
                " reply_rule, tries, next_at, created_at, done_at, given_up, last_error)"
                " values (?,?,?,?,?,?,?,?,?,0,?,?,null,0,'')",
                [c["kind"], c["system"], c["method"], c["url"], c.get("body", b""), json.dumps(c.get("headers", {})),
                 c.get("expect", ""), c.get("reply_to", ""), c.get("reply_rule", -1), now, now],
            )  # fmt: skip
        if outbox_id is not None:
            final = status in ("delivered", "failed")
            db.execute(
                "update compat_messages set last_status=?, open=? where outbox_id=?",
                [status, 0 if final else 1, outbox_id],
            )


def due(db: sqlite_utils.Database, now: float, limit: int) -> list[dict[str, Any]]:
    return list(
        db.query(
            "select * from compat_callbacks where done_at is null and next_at<=? order by next_at, id limit ?",
            [now, limit],
        )
    )


def next_due(db: sqlite_utils.Database) -> float | None:
    row = db.execute("select min(next_at) from compat_callbacks where done_at is null").fetchone()
    return None if row[0] is None else float(row[0])


def done(db: sqlite_utils.Database, callback_id: int, now: float) -> None:
    with transaction(db):
        db.execute("update compat_callbacks set done_at=?, tries=tries+1 where id=?", [now, callback_id])


def retry(db: sqlite_utils.Database, callback_id: int, next_at: float, error: str, give_up: bool, now: float) -> None:
    with transaction(db):
        db.execute(
            "update compat_callbacks set tries=tries+1, next_at=?, last_error=?, given_up=?, done_at=? where id=?",
            [next_at, error[:500], int(give_up), now if give_up else None, callback_id],
        )


def callbacks(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every callback, oldest first (tests and the docs' examples)."""
    return list(db.query("select * from compat_callbacks order by id"))
