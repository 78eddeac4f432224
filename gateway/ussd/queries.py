"""USSD sessions: when each was last active, so an idle one expires."""

from __future__ import annotations

import sqlite_utils

from gateway.core.store import transaction


def touch_session(db: sqlite_utils.Database, session_id: str, number: str, now: float, timeout: float) -> bool:
    """Record the session's activity; False when it had been idle past the timeout."""
    with transaction(db):
        row = db.execute("select last_at from ussd_sessions where session_id=?", [session_id]).fetchone()
        if row is not None and now - row[0] > timeout:
            return False
        db.execute(
            "insert into ussd_sessions (session_id, number, started_at, last_at) values (?,?,?,?)"
            " on conflict(session_id) do update set last_at=excluded.last_at",
            [session_id, number, now, now],
        )
    return True
