"""USSD sessions: when each was last active, so an idle one expires; old ones are pruned."""

from __future__ import annotations

import sqlite_utils

from gateway.core.store import transaction

KEEP = 86400.0  # an aggregator never reuses a session id within a day; older rows only take room


def touch_session(db: sqlite_utils.Database, session_id: str, number: str, now: float, timeout: float) -> bool:
    """Record the session's activity; False when it had been idle past the timeout."""
    with transaction(db):
        db.execute("delete from ussd_sessions where last_at < ?", [now - max(KEEP, timeout)])
        row = db.execute("select last_at from ussd_sessions where session_id=?", [session_id]).fetchone()
        if row is not None and now - row[0] > timeout:
            return False
        db.execute(
            "insert into ussd_sessions (session_id, number, started_at, last_at) values (?,?,?,?)"
            " on conflict(session_id) do update set last_at=excluded.last_at",
            [session_id, number, now, now],
        )
    return True
