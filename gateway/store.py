"""The SQLite store: one connection owned by one thread, schema by sqlite_utils migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import sqlite_utils

P = ParamSpec("P")
T = TypeVar("T")
Migration = Callable[[sqlite_utils.Database], None]


def _m001_sms(db: sqlite_utils.Database) -> None:
    db.table("outbox").create(
        {
            "id": int,
            "recipient": str,
            "text": str,
            "body": str,
            "encoding": str,
            "segments": int,
            "priority": int,
            "status": str,
            "tries": int,
            "next_attempt_at": float,
            "last_error": str,
            "source": str,
            "concat_ref": int,
            "created_at": float,
            "sent_at": float,
            "delivered_at": float,
            "failed_at": float,
        },
        pk="id",
        not_null={"recipient", "text", "body", "encoding", "segments", "priority", "status"},
        defaults={"tries": 0, "next_attempt_at": 0},
    )
    db.table("outbox").create_index(["status", "priority", "next_attempt_at", "id"])
    db.table("outbox_parts").create(
        {
            "message_id": int,
            "part": int,
            "reference": int,
            "status": str,
            "sent_at": float,
            "report_status": int,
            "report_at": float,
        },
        pk=("message_id", "part"),
        foreign_keys=[("message_id", "outbox", "id")],
    )
    db.table("outbox_parts").create_index(["reference", "sent_at"])
    # delivery reports that arrived before the part they answer was recorded
    db.table("early_reports").create(
        {"id": int, "reference": int, "number": str, "status": int, "received_at": float}, pk="id"
    )
    db.table("inbox").create(
        {
            "id": int,
            "sender": str,
            "text": str,
            "parts": int,
            "partial": int,
            "sent_at": str,
            "received_at": float,
        },
        pk="id",
    )
    db.table("inbox").create_index(["received_at"])
    db.table("inbound_parts").create(
        {
            "sender": str,
            "reference": int,
            "total": int,
            "seq": int,
            "units": bytes,
            "sent_at": str,
            "received_at": float,
        },
        pk=("sender", "reference", "total", "seq"),
    )
    db.table("seen_pdus").create({"digest": str, "received_at": float}, pk="digest")
    # PDUs the modem gave us that could not be decoded: kept, visible, and deleted from the SIM
    db.table("inbox_rejects").create({"id": int, "pdu": str, "error": str, "received_at": float}, pk="id")


def _m002_residents(db: sqlite_utils.Database) -> None:
    db.table("procedures").create(
        {
            "key": str,
            "name": str,
            "synonyms": str,
            "answer": str,
            "answer_plain": str,
            "checked_on": str,
            "checked_by": str,
            "status": str,
            "updated_at": float,
        },
        pk="key",
    )
    db.table("hamlets").create({"id": int, "name": str, "folded": str}, pk="id")
    db.table("hamlets").create_index(["folded"], unique=True)
    db.table("subscriptions").create(
        {"number": str, "hamlet_id": int, "created_at": float},
        pk=("number", "hamlet_id"),
        foreign_keys=[("hamlet_id", "hamlets", "id")],
    )
    # HUY: every later broadcast skips these numbers until they subscribe again
    db.table("opt_outs").create({"number": str, "created_at": float}, pk="number")
    db.table("questions").create(
        {
            "id": int,
            "inbox_id": int,
            "sender": str,
            "text": str,
            "status": str,
            "created_at": float,
            "answered_at": float,
            "answer": str,
            "message_id": int,
        },
        pk="id",
    )
    db.table("questions").create_index(["status", "id"])
    # a numbered choice a resident was asked to answer with a digit
    db.table("choices").create({"number": str, "kind": str, "options": str, "created_at": float}, pk="number")
    db.table("ussd_sessions").create(
        {"session_id": str, "number": str, "started_at": float, "last_at": float}, pk="session_id"
    )
    db.table("inbox").add_column("routed_at", float)
    db.execute("update inbox set routed_at = received_at")
    db.table("outbox").create_index(["recipient", "source", "created_at"])


def _m003_broadcasts(db: sqlite_utils.Database) -> None:
    db.table("contacts").create(
        {
            "id": int,
            "name": str,
            "number": str,
            "hamlet_id": int,
            "roles": str,
            "created_at": float,
            "updated_at": float,
        },
        pk="id",
        foreign_keys=[("hamlet_id", "hamlets", "id")],
    )
    db.table("contacts").create_index(["number"], unique=True)
    db.table("groups").create({"id": int, "name": str, "kind": str, "target": str}, pk="id")
    db.table("groups").create_index(["name"], unique=True)
    db.table("group_members").create(
        {"group_id": int, "contact_id": int},
        pk=("group_id", "contact_id"),
        foreign_keys=[("group_id", "groups", "id"), ("contact_id", "contacts", "id")],
    )
    db.table("reminders").create(
        {
            "id": int,
            "template": str,
            "target": str,
            "rule": str,
            "status": str,
            "created_at": float,
            "next_fire_at": float,
            "last_fire_at": float,
        },
        pk="id",
    )
    db.table("reminders").create_index(["status", "next_fire_at"])
    # one row per firing, written with its messages in one transaction: a restart never fires twice
    db.table("reminder_runs").create(
        {
            "reminder_id": int,
            "fire_at": float,
            "ran_at": float,
            "status": str,
            "recipients": int,
            "queued": int,
            "opted_out": int,
            "capped": int,
            "deferred": int,
        },
        pk=("reminder_id", "fire_at"),
    )
    db.table("alerts").create(
        {
            "id": int,
            "text": str,
            "created_at": float,
            "confirm_minutes": float,
            "escalate_to": str,
            "status": str,
            "source": str,
        },
        pk="id",
    )
    db.table("alert_recipients").create(
        {
            "alert_id": int,
            "number": str,
            "name": str,
            "message_id": int,
            "resend_message_id": int,
            "sent_at": float,
            "confirmed_at": float,
            "resent_at": float,
            "escalated_at": float,
        },
        pk=("alert_id", "number"),
    )
    db.table("alert_recipients").create_index(["number", "confirmed_at"])


def _m004_announcements(db: sqlite_utils.Database) -> None:
    db.table("announcements").create(
        {
            "id": int,
            "text": str,
            "clip": str,
            "repeat": int,
            "priority": str,
            "zones": str,
            "rule": str,
            "starts_on": str,
            "ends_on": str,
            "status": str,
            "audio_key": str,
            "seconds": float,
            "created_at": float,
            "approved_at": float,
            "next_play_at": float,
        },
        pk="id",
    )
    db.table("announcements").create_index(["status", "next_play_at"])
    # the commune's proof of broadcast: one row for every play, late play, miss and interruption
    db.table("broadcast_log").create(
        {
            "id": int,
            "announcement_id": int,
            "planned_at": float,
            "started_at": float,
            "ended_at": float,
            "audio_key": str,
            "zones": str,
            "relay": str,
            "result": str,
            "error": str,
        },
        pk="id",
    )


def _m005_accounts(db: sqlite_utils.Database) -> None:
    db.table("users").create(
        {
            "id": int,
            "username": str,
            "password_hash": str,
            "role": str,
            "hamlet_id": int,
            "created_at": float,
            "failed": int,
            "locked_until": float,
        },
        pk="id",
        defaults={"failed": 0},
    )
    db.table("users").create_index(["username"], unique=True)
    db.table("login_failures").create({"address": str, "at": float})
    db.table("login_failures").create_index(["address", "at"])
    db.table("api_tokens").create(
        {"id": int, "user_id": int, "token_hash": str, "label": str, "created_at": float}, pk="id"
    )
    db.table("api_tokens").create_index(["token_hash"], unique=True)
    db.table("audit").create({"id": int, "at": float, "user": str, "action": str, "detail": str}, pk="id")


MIGRATIONS: list[tuple[str, Migration]] = [
    ("001_sms", _m001_sms),
    ("002_residents", _m002_residents),
    ("003_broadcasts", _m003_broadcasts),
    ("004_announcements", _m004_announcements),
    ("005_accounts", _m005_accounts),
]


def migrate(db: sqlite_utils.Database) -> list[str]:
    db.table("_migrations").create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with db.conn:
            fn(db)
            db.execute("insert into _migrations (name, applied_at) values (?, datetime('now'))", [name])
        applied.append(name)
    return applied


class Store:
    """Every read and write runs on one thread that owns the connection, off the event loop."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite_utils.Database | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loa-sqlite")
        await self._run(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False)
        conn.execute("pragma journal_mode=wal")
        # FULL: a message we answered 202 for survives a power cut, not just a crash
        conn.execute("pragma synchronous=full")
        conn.execute("pragma foreign_keys=on")
        conn.execute("pragma busy_timeout=5000")
        self._db = sqlite_utils.Database(conn)
        migrate(self._db)

    async def close(self) -> None:
        if self._executor is None:
            return
        await self._run(self._close)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _close(self) -> None:
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run fn(db, *args) on the store thread; wrap writes in `with db.conn:` for one transaction."""

        def job() -> T:
            assert self._db is not None
            return fn(self._db, *args, **kwargs)

        return await self._run(job)
