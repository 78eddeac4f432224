"""What the SMS tables tell other packages, asked through these functions, never by their own SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlite_utils

# the writes others make inside their own transaction (a reminder's run, an alert and its messages)
from gateway.sms.queue import PRIORITIES, STATUSES, cancel_queued, enqueue, enqueue_many

__all__ = [
    "PRIORITIES",
    "STATUSES",
    "cancel_queued",
    "count_to",
    "enqueue",
    "enqueue_many",
    "history",
    "messages_per_recipient",
    "messages_to",
    "segments_from",
    "statuses",
]


def messages_to(db: sqlite_utils.Database, number: str, source_like: str, since: float) -> int:
    """Messages queued for `number` since `since` whose source matches the LIKE pattern (auto:menu…)."""
    return int(
        db.execute(
            "select count(*) from outbox where recipient=? and source like ? and created_at>=?",
            [number, source_like, since],
        ).fetchone()[0]
    )


def messages_per_recipient(db: sqlite_utils.Database, since: float, min_priority: int) -> dict[str, int]:
    """How many messages of `min_priority` or lower urgency each number was sent since `since`."""
    rows = db.execute(
        "select recipient, count(*) from outbox where priority>=? and created_at>=? group by recipient",
        [min_priority, since],
    )
    return dict(rows.fetchall())


def segments_from(db: sqlite_utils.Database, source: str, since: float) -> int:
    """The segments a source (e.g. "api:mai") queued since `since`."""
    return int(
        db.execute(
            "select coalesce(sum(segments), 0) from outbox where source=? and created_at>=?", [source, since]
        ).fetchone()[0]
    )


def statuses(db: sqlite_utils.Database, message_ids: Sequence[int | None]) -> dict[int, str]:
    """Each message's status, by id (ids that are None or unknown are left out)."""
    wanted = [i for i in message_ids if i is not None]
    if not wanted:
        return {}
    rows = db.execute(
        "select id, status from outbox where id in (select value from json_each(?))", [json.dumps(wanted)]
    )
    return {int(i): str(s) for i, s in rows.fetchall()}


def count_to(db: sqlite_utils.Database, numbers: Sequence[str], since: float, status: str | None = None) -> int:
    """The messages created since `since` to any of `numbers` (with `status`, only those in it)."""
    sql = "select count(*) from outbox where recipient in (select value from json_each(?)) and created_at>=?"
    args: list[Any] = [json.dumps(list(numbers)), since]
    if status is not None:
        sql += " and status=?"
        args.append(status)
    return int(db.execute(sql, args).fetchone()[0])


def history(
    db: sqlite_utils.Database,
    since: float,
    until: float,
    *,
    status: str | None = None,
    source: str | None = None,
    recipients: Sequence[str] | None = None,
    before_id: int | None = None,
    limit: int = 100,
    kinds: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Messages created in [since, until), newest first, each with how many of its parts were
    delivered; narrowed to a status, a source, some kinds of source, some recipients, ids below `before_id`."""
    where = ["o.created_at>=?", "o.created_at<?"]
    args: list[Any] = [since, until]
    if status:
        where.append("o.status=?")
        args.append(status)
    if source:
        where.append("o.source=?")
        args.append(source)
    if kinds is not None:  # sources that begin "<kind>:", e.g. "reminder"
        where.append("substr(o.source, 1, instr(o.source, ':') - 1) in (select value from json_each(?))")
        args.append(json.dumps(list(kinds)))
    if recipients is not None:
        where.append("o.recipient in (select value from json_each(?))")
        args.append(json.dumps(list(recipients)))
    if before_id is not None:
        where.append("o.id<?")
        args.append(before_id)
    return list(
        db.query(
            "select o.id, o.recipient, o.body, o.segments, o.status, o.last_error, o.source, o.created_at,"
            " o.sent_at, o.delivered_at,"
            " (select count(*) from outbox_parts p where p.message_id=o.id and p.status='delivered') as delivered_parts"
            f" from outbox o where {' and '.join(where)} order by o.id desc limit ?",
            [*args, limit],
        )
    )


def states(db: sqlite_utils.Database, ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each message's status, when it was sent, its last error and its first part's reference, by id."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = db.query(
        f"select o.id, o.status, o.sent_at, o.last_error,"
        f" (select p.reference from outbox_parts p where p.message_id=o.id order by p.part limit 1) as reference"
        f" from outbox o where o.id in ({marks})",
        ids,
    )
    return {r["id"]: r for r in rows}
