"""The accounts tables: users, login failures, API tokens, audit log."""

from __future__ import annotations

import sqlite_utils


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


def _m007_sessions(db: sqlite_utils.Database) -> None:
    # server-side sessions so logout, a new password or a disabled account end every cookie
    db.table("sessions").create(
        {"id_hash": str, "user_id": int, "created_at": float, "expires_at": float}, pk="id_hash"
    )
    db.table("sessions").create_index(["user_id"])
    db.table("users").add_column("disabled", int, not_null_default=0)
    # lockouts count per (address, account): a stranger's wrong passwords no longer lock the owner out
    db.table("login_failures").add_column("username", str)
    db.execute("create unique index users_username_nocase on users (username collate nocase)")


def _m010_user_number(db: sqlite_utils.Database) -> None:
    # a hamlet head's own phone: "Đã nhận" on the console confirms an alert as that number's OK does
    db.table("users").add_column("number", str)


MIGRATIONS = [
    ("005_accounts", _m005_accounts),
    ("007_sessions", _m007_sessions),
    ("010_user_number", _m010_user_number),
]
