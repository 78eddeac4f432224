"""The SQLite store: one connection owned by one thread, a typed call, each package's migrations."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import sqlite_utils

P = ParamSpec("P")
T = TypeVar("T")
Migration = Callable[[sqlite_utils.Database], None]
# each package owns a list of (name, function); names are unique across packages and never renamed
MigrationSet = Sequence[tuple[str, Migration]]


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = "data/loa.sqlite3"


@contextlib.contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[None]:
    """All the writes inside, or none of them: BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception.
    Nested inside another, it is part of the outer one. (`with db.conn:` is no transaction here:
    sqlite-utils 4 commits each write made through db.execute() on its own when none is open.)"""
    conn = db.conn
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def migrate(db: sqlite_utils.Database, sets: Sequence[MigrationSet]) -> list[str]:
    """Apply, in the order given, every migration not yet recorded; each in its own transaction."""
    db.table("_migrations").create({"name": str, "applied_at": str}, pk="name", if_not_exists=True)
    done = {row["name"] for row in db["_migrations"].rows}
    applied = []
    for migrations in sets:
        for name, fn in migrations:
            if name in done:
                continue
            with transaction(db):
                fn(db)
                db.execute("insert into _migrations (name, applied_at) values (?, datetime('now'))", [name])
            applied.append(name)
    return applied


class Store:
    """Every read and write runs on one thread that owns the connection, off the event loop."""

    def __init__(self, path: str | Path, migrations: Sequence[MigrationSet] = ()) -> None:
        self.path = Path(path)
        self.migrations = list(migrations)
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
        migrate(self._db, self.migrations)

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

    async def call(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run fn(db, *args) on the store thread; wrap writes in `with transaction(db):`."""

        def job() -> T:
            assert self._db is not None
            return fn(self._db, *args, **kwargs)

        return await self._run(job)
