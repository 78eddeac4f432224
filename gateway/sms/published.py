"""What the SMS tables tell other packages, asked through these functions, never by their own SQL."""

from __future__ import annotations

from typing import Any

import sqlite_utils


def messages_to(db: sqlite_utils.Database, number: str, source_like: str, since: float) -> int:
    """Messages queued for `number` since `since` whose source matches the LIKE pattern (auto:menu…)."""
    return int(
        db.execute(
            "select count(*) from outbox where recipient=? and source like ? and created_at>=?",
            [number, source_like, since],
        ).fetchone()[0]
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
