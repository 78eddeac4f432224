"""The broadcast tables: contacts, groups, reminders, alerts, announcements, broadcast log."""

from __future__ import annotations

import sqlite_utils


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


def _m006_reminder_errors(db: sqlite_utils.Database) -> None:
    # a reminder that cannot fire is marked failed with its reason, and the others go on
    db.table("reminders").add_column("last_error", str)


def _m011_lines(db: sqlite_utils.Database) -> None:
    # the hamlets whose own loudspeaker line was on (JSON list); null where one line serves all
    db.table("broadcast_log").add_column("lines", str)


def _m025_rank(db: sqlite_utils.Database) -> None:
    # the officials' order of the ưu tiên items (Thông tư 39: the commune orders its priority items)
    db.table("announcements").add_column("rank", int)


def _m030_owners(db: sqlite_utils.Database) -> None:
    # the account a draft was made by: its renders count against that account's quota
    db.table("announcements").add_column("created_by", str)
    # a reminder made by an account with a daily ceiling (a hamlet head) counts against it at each firing
    db.table("reminders").add_column("created_by", str)
    db.table("reminders").add_column("ceiling", int, not_null_default=0)


MIGRATIONS = [
    ("003_broadcasts", _m003_broadcasts),
    ("004_announcements", _m004_announcements),
    ("006_reminder_errors", _m006_reminder_errors),
    ("011_lines", _m011_lines),
    ("025_rank", _m025_rank),
    ("030_broadcasts_owners", _m030_owners),
]
