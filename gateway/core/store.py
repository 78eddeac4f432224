"""The SQLite store: one connection owned by one thread, a typed call, each package's migrations."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Concatenate, Generic, ParamSpec, TypeVar

import sqlite_utils

from gateway.core import backup
from gateway.core.errors import StoreUnavailable

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")
Migration = Callable[[sqlite_utils.Database], None]
# each package owns a list of (name, function); names are unique across packages and never renamed
MigrationSet = Sequence[tuple[str, Migration]]


@dataclass(frozen=True)
class DatabaseConfig:
    path: str = "data/loa.sqlite3"
    # below this much free space on the database's disk, new work is refused (what was accepted goes on)
    min_free_mb: int = 50


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


def pending(db: sqlite_utils.Database, sets: Sequence[MigrationSet]) -> list[str]:
    """The migrations not yet applied to this database, in order."""
    done = {row["name"] for row in db["_migrations"].rows} if db["_migrations"].exists() else set()
    return [name for migrations in sets for name, _ in migrations if name not in done]


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


# what SQLite says when the disk, not the statement, is at fault
_CANNOT_WRITE = ("database or disk is full", "readonly database", "disk i/o error", "unable to open database file")


def _why_not_writable(path: Path) -> str:
    """Plain words for an unwritable database: which file, and what is wrong with it."""
    folder = path.parent
    if not folder.exists():
        return f"thư mục {folder} không có (folder missing)"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"không được ghi vào thư mục {folder} (folder not writable by this user)"
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        return f"không được đọc/ghi tệp {path} (file permissions)"
    return f"tệp {path}"


def _checkpoint(db: sqlite_utils.Database) -> None:
    """Copy the write-ahead log into the database and truncate it: on a full disk the log is what
    holds the space (a few MB freed would fill again with it); after one, it is given back."""
    try:
        db.execute("pragma wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as e:
        log.warning("checkpoint of the write-ahead log failed: %s", e)


class Store:
    """Every read and write runs on one thread that owns the connection, off the event loop.
    When the disk refuses a write, `problem` says why (for /healthz) until a write succeeds again."""

    def __init__(
        self, path: str | Path, migrations: Sequence[MigrationSet] = (), min_free_mb: int = 0, *, shared: bool = False
    ) -> None:
        """`shared`: a short command beside a running Loa (`loa user add`), which does not take the lock
        that keeps a second `loa run` off the database; SQLite's WAL and busy timeout share the file."""
        self.path = Path(path)
        self.shared = shared
        self.migrations = list(migrations)
        self.problem: str | None = None
        # told (on the event loop) when a write goes through again after the disk refused one
        self.on_writable: list[Callable[[], None]] = []
        self.min_free_mb = min_free_mb
        self._space: tuple[float, str | None] = (0.0, None)
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite_utils.Database | None = None
        self._lock: IO[str] | None = None

    def space_problem(self) -> str | None:
        """Why new work is refused for lack of disk space, or None; looked at most every 5 s."""
        checked, said = self._space
        if not self.min_free_mb or time.monotonic() - checked < 5.0:
            return said
        try:
            free = shutil.disk_usage(self.path.parent).free / 2**20
        except OSError:
            free = float("inf")
        said = None
        if free < self.min_free_mb:
            said = (
                f"Ổ đĩa gần đầy: còn {free:.0f} MB, cần ít nhất {self.min_free_mb} MB; không nhận việc mới"
                f" cho tới khi dọn bớt (disk nearly full: {self.path.parent})"
            )
        self._space = (time.monotonic(), said)
        return said

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loa-sqlite")
        try:
            await self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    def _open(self) -> None:
        try:
            # residents' numbers and messages: readable by the gateway's user only
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _private(self.path.parent)
            self.path.touch(mode=0o600, exist_ok=True)
            if not self.shared:
                self._take_lock()
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.execute("pragma journal_mode=wal")
            # FULL: a message we answered 202 for survives a power cut, not just a crash
            conn.execute("pragma synchronous=full")
            conn.execute("pragma foreign_keys=on")
            conn.execute("pragma busy_timeout=5000")
            self._db = sqlite_utils.Database(conn)
            waiting = pending(self._db, self.migrations)
            if waiting and len(waiting) < sum(len(m) for m in self.migrations):
                # an upgrade changes the tables: the rows as they were, beside the database first
                before = self.path.with_name(f"{self.path.name}.before-{waiting[0]}")
                backup.copy(self.path, before)
                log.warning("database copied to %s before migrating (%s)", before, ", ".join(waiting))
            migrate(self._db, self.migrations)
        except (OSError, sqlite3.OperationalError, sqlite3.DatabaseError) as e:
            raise StoreUnavailable(
                f"Không mở được cơ sở dữ liệu {self.path}: {_why_not_writable(self.path)} ({e})", path=str(self.path)
            ) from None

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
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _take_lock(self) -> None:
        """One gateway per database: a second `loa run`, or `loa restore`, finds it held."""
        lock = open(f"{self.path}.lock", "a")  # noqa: SIM115 - held for the life of the store
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise StoreUnavailable(
                f"Cơ sở dữ liệu {self.path} đang được một Loa khác dùng (another loa run holds {self.path}.lock)",
                path=str(self.path),
            ) from None
        self._lock = lock

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def call(
        self, fn: Callable[Concatenate[sqlite_utils.Database, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run fn(db, *args) on the store thread; wrap writes in `with transaction(db):`."""

        loop = asyncio.get_running_loop()

        def job() -> T:
            db = self._db
            assert db is not None
            before = db.conn.total_changes
            try:
                result = fn(db, *args, **kwargs)
            except sqlite3.OperationalError as e:
                if not any(words in str(e).lower() for words in _CANNOT_WRITE):
                    raise
                if "full" in str(e).lower():
                    _checkpoint(db)
                self.problem = f"Không ghi được cơ sở dữ liệu ({e}): {_why_not_writable(self.path)}"
                raise StoreUnavailable(self.problem, path=str(self.path)) from None
            if self.problem is not None and db.conn.total_changes != before:
                self.problem = None  # a write went through: the disk has room again
                _checkpoint(db)
                for tell in self.on_writable:
                    loop.call_soon_threadsafe(tell)
            return result

        return await self._run(job)


class GroupWriter(Generic[T]):
    """Writes that callers wait for, made together: whatever came while one transaction was being
    written goes into the next, so a burst costs one commit (one fsync) per batch, not per item.
    A batch that fails is written again item by item, so one bad item fails only its own caller."""

    def __init__(self, store: Store, fn: Callable[[sqlite_utils.Database, list[T]], None], gather: float = 0.0) -> None:
        # gather: seconds a batch waits for more items before it is written (0: the next loop turn)
        self.store, self.fn, self.gather = store, fn, gather
        self._items: list[tuple[T, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None

    async def write(self, item: T) -> None:
        await self.add(item)

    def add(self, item: T) -> asyncio.Future[None]:
        """Queue the write; the future is done once it is committed (or failed)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._items.append((item, fut))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush(), name="group-writer")
        return fut

    async def drain(self) -> None:
        """Every write queued so far committed (at a stop)."""
        while self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    async def _flush(self) -> None:
        if self.gather:
            await asyncio.sleep(self.gather)
        while self._items:
            batch, self._items = self._items, []
            try:
                await self.store.call(self._all, [item for item, _ in batch])
            except Exception as e:
                if len(batch) == 1:
                    _, fut = batch[0]
                    if not fut.done():
                        fut.set_exception(e)
                    continue
                log.warning("a group of %d writes failed (%s): written one by one", len(batch), e)
                for item, fut in batch:
                    try:
                        await self.store.call(self._all, [item])
                    except Exception as e:
                        if not fut.done():
                            fut.set_exception(e)
                    else:
                        if not fut.done():
                            fut.set_result(None)
            else:
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)

    def _all(self, db: sqlite_utils.Database, items: list[T]) -> None:
        with transaction(db):
            self.fn(db, items)


def _private(folder: Path) -> None:
    """A data folder made before (by hand, an older version) and open to others is closed: 0700."""
    try:
        st = folder.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            folder.chmod(0o700)
            log.warning("%s was readable by other users: now 0700 (residents' numbers and messages)", folder)
    except OSError as e:
        log.warning("could not close %s to other users: %s", folder, e)
