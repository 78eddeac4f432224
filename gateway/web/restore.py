"""A restore of a backup: the accounts, API tokens and sessions of today, kept if the person says so
(a backup brings back revoked tokens, closed sessions and disabled accounts)."""

from __future__ import annotations

import sqlite3

ACCOUNTS = ("users", "api_tokens", "sessions")


def _has(db: sqlite3.Connection, table: str) -> bool:
    return all(
        db.execute(f"select 1 from {schema}.sqlite_master where type='table' and name=?", [table]).fetchone()
        for schema in ("main", "replaced")
    )


def _columns(db: sqlite3.Connection, table: str) -> str:
    ours = {r[1] for r in db.execute(f"pragma main.table_info({table})")}
    return ", ".join(f'"{r[1]}"' for r in db.execute(f"pragma replaced.table_info({table})") if r[1] in ours)


def differences(db: sqlite3.Connection) -> list[str]:
    """`db` is the backup, the replaced database attached as `replaced`: what differs, in plain words."""
    said = []
    for table, words in (("users", "tài khoản (accounts)"), ("api_tokens", "mã API (API tokens)"),
                         ("sessions", "phiên đăng nhập (sessions)")):  # fmt: skip
        if not _has(db, table):
            continue
        cols = _columns(db, table)
        try:
            back = int(db.execute(f"select count(*) from (select {cols} from main.{table}"
                                  f" except select {cols} from replaced.{table})").fetchone()[0])  # fmt: skip
            today = int(db.execute(f"select count(*) from (select {cols} from replaced.{table}"
                                   f" except select {cols} from main.{table})").fetchone()[0])  # fmt: skip
        except sqlite3.Error as e:
            said.append(f"  {words}: không so được ({e})")
            continue
        if back or today:
            said.append(f"  {words}: {back} dòng của bản sao khác hôm nay (revoked, disabled or changed since:"
                        f" brought back), {today} dòng chỉ có hôm nay (today's only)")  # fmt: skip
    return said


def keep_today(db: sqlite3.Connection) -> None:
    """Today's accounts, tokens and sessions replace the backup's."""
    tables = [t for t in ACCOUNTS if _has(db, t)]
    for table in reversed(tables):
        db.execute(f"delete from main.{table}")
    for table in tables:
        cols = _columns(db, table)
        db.execute(f"insert into main.{table} ({cols}) select {cols} from replaced.{table}")
