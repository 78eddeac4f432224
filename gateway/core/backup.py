"""Backups of the database: a consistent, checked copy by SQLite's backup API, rotated; and restore."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from gateway.core.errors import LoaError

PATTERN = re.compile(r"^loa-(\d{4}-\d{2}-\d{2})\.sqlite3$")


@dataclass(frozen=True)
class BackupConfig:
    path: str = ""  # a folder on another disk (a USB stick); "" = no daily backup, said at start
    hour: int = 3  # local hour of the daily copy
    keep_daily: int = 7
    keep_weekly: int = 4


class BackupError(LoaError):
    status = 500


def check(path: Path) -> str:
    """'ok', or what SQLite's integrity check found wrong with the file."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as e:
        return str(e)
    try:
        rows = db.execute("pragma integrity_check").fetchall()
    except sqlite3.DatabaseError as e:
        return str(e)
    finally:
        db.close()
    return "ok" if rows == [("ok",)] else "; ".join(str(r[0]) for r in rows[:5])


def copy(source: Path, dest: Path) -> Path:
    """A consistent copy of a live database: its own connection, the whole copy in one step (one read
    transaction, so the gateway's writes go on meanwhile), checked before it takes its final name."""
    tmp = dest.with_name(dest.name + ".part")
    src = sqlite3.connect(source)
    out = sqlite3.connect(tmp)
    try:
        src.backup(out)
        # one self-contained file: the live database is in WAL mode, and its copy would be too
        out.execute("pragma journal_mode=delete")
    finally:
        out.close()
        src.close()
    found = check(tmp)
    if found != "ok":
        tmp.unlink()
        raise BackupError(f"Bản sao {dest} hỏng, không giữ lại: {found}")
    os.chmod(tmp, 0o600)  # residents' numbers: the gateway's user only, like the database
    os.replace(tmp, dest)
    return dest


def dates(folder: Path) -> list[date]:
    """The days of the daily backups in a folder, newest first."""
    found = []
    for path in folder.glob("loa-*.sqlite3") if folder.is_dir() else []:
        m = PATTERN.match(path.name)
        if m:
            found.append(date.fromisoformat(m.group(1)))
    return sorted(found, reverse=True)


def keep(days: list[date], daily: int, weekly: int) -> set[date]:
    """The `daily` newest, and the newest of each of the `weekly` newest weeks (ISO) besides."""
    newest_first = sorted(set(days), reverse=True)
    kept = set(newest_first[:daily])
    weeks: dict[tuple[int, int], date] = {}
    for day in newest_first:
        weeks.setdefault(day.isocalendar()[:2], day)
    kept.update(sorted(weeks.values(), reverse=True)[:weekly])
    return kept


def daily(source: Path, folder: Path, today: date, config: BackupConfig) -> Path:
    """Today's copy into the folder, then the older ones beyond the rotation removed."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    made = copy(source, folder / f"loa-{today.isoformat()}.sqlite3")
    kept = keep(dates(folder), config.keep_daily, config.keep_weekly)
    for day in dates(folder):
        if day not in kept:
            (folder / f"loa-{day.isoformat()}.sqlite3").unlink(missing_ok=True)
    return made


def next_due(folder: Path, now: datetime, hour: int) -> datetime:
    """When the next daily copy is due: today at `hour` unless today's exists (then tomorrow)."""
    done = dates(folder)
    day = now.date()
    if done and done[0] >= day:
        day = done[0] + timedelta(days=1)
    return datetime.combine(day, datetime.min.time(), now.tzinfo).replace(hour=hour)


def refuse(backup: Path, target: Path) -> str | None:
    """Why `backup` cannot be put in `target`'s place, or None: the live database onto itself, a file
    that is not a Loa database (/dev/null, an empty file, anything else SQLite would open as empty)."""
    if not backup.is_file():
        return f"{backup} không phải tệp sao lưu (not a regular file)"
    if target.exists() and backup.resolve() == target.resolve():
        return f"{backup} chính là cơ sở dữ liệu đang dùng (the live database itself)"
    with open(backup, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            return f"{backup} không phải cơ sở dữ liệu SQLite (not an SQLite database)"
    try:
        with contextlib.closing(sqlite3.connect(f"file:{backup}?mode=ro", uri=True)) as db:
            found = db.execute("select 1 from sqlite_master where name = '_migrations'").fetchone()
    except sqlite3.Error as e:
        return f"{backup}: {e}"
    if found is None:
        return f"{backup} không phải cơ sở dữ liệu của Loa (no _migrations table)"
    return None


def restore(backup: Path, target: Path, stamp: str) -> Path | None:
    """Put a backup in the database's place (the gateway stopped). The replaced database is kept
    beside it, with its -wal; returns where (None when there was no database)."""
    found = check(backup)
    if found != "ok":
        raise BackupError(f"Không khôi phục: {backup} hỏng ({found})")
    kept = None
    if target.exists():
        kept = target.with_name(f"{target.name}.replaced-{stamp}")
        n = 1
        while kept.exists():  # two restores in one second: the first kept copy is not overwritten
            n += 1
            kept = target.with_name(f"{target.name}.replaced-{stamp}-{n}")
        with sqlite3.connect(target) as db:
            db.execute("pragma wal_checkpoint(truncate)")  # the replaced file whole, without its -wal
        db.close()
        os.replace(target, kept)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    tmp = target.with_name(target.name + ".part")
    shutil.copyfile(backup, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)
    return kept
