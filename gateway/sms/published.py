"""What the SMS tables tell other packages, asked through these functions, never by their own SQL."""

from __future__ import annotations

import sqlite_utils


def messages_to(db: sqlite_utils.Database, number: str, source_like: str, since: float) -> int:
    """Messages queued for `number` since `since` whose source matches the LIKE pattern (auto:menu…)."""
    return int(
        db.execute(
            "select count(*) from outbox where recipient=? and source like ? and created_at>=?",
            [number, source_like, since],
        ).fetchone()[0]
    )
