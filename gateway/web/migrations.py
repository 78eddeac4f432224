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


MIGRATIONS = [("005_accounts", _m005_accounts)]
