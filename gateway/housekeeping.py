"""Daily housekeeping: the database copied to [backup] path, the WAL folded back, old audio removed."""

from __future__ import annotations

import asyncio
import logging
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from audio.render import prune
from broadcasts.announcements import Announcer
from broadcasts.keys import ANNOUNCER
from gateway.config import Config
from gateway.core import backup
from gateway.core.clock import Clock
from gateway.core.keys import CLOCK, STORE
from gateway.core.store import Store
from gateway.web import accounts
from schedules.keys import SCHEDULER
from schedules.scheduler import Job

log = logging.getLogger(__name__)


def setup(app: web.Application, config: Config) -> None:
    clock = app[CLOCK]
    if config.backup.path:
        app[SCHEDULER].add(backup_job(config, clock))
    else:
        app.cleanup_ctx.append(_warn_without_backup)
    app[SCHEDULER].add(daily_job(config, app[STORE], app[ANNOUNCER], clock))


async def _warn_without_backup(app: web.Application) -> AsyncIterator[None]:
    log.warning("no [backup] path: the database is not copied anywhere (set it to a USB stick's folder)")
    yield


def daily_job(config: Config, store: Store, announcer: Announcer, clock: Clock) -> Job:
    """Once a day: the WAL folded back into the database, old rendered audio and audit rows removed."""
    done_at: list[float] = []

    async def next_at() -> float:
        if not done_at:
            done_at.append(clock() + 3600 - 86400)  # the first an hour after start
        return done_at[-1] + 86400

    async def run(now: float, grace: float) -> list[asyncio.Task[None]]:
        done_at[:] = [now]
        await store.call(lambda db: db.execute("pragma wal_checkpoint(truncate)").fetchall())
        expired = await announcer.expire_drafts(now)
        keep = await announcer.audio_in_use()
        a = config.audio
        removed = await asyncio.to_thread(
            prune, Path(a.cache_dir), keep, time.time(), a.cache_days * 86400, a.cache_max_mb * 2**20
        )
        gone = 0
        if config.web.audit_days > 0:
            gone = await store.call(accounts.prune_audit, now - config.web.audit_days * 86400)
        log.info(
            "housekeeping: WAL checkpointed, %d stale drafts cancelled, %d old audio files and %d audit rows removed",
            expired,
            len(removed),
            gone,
        )
        return []

    return Job("housekeeping", math.inf, next_at, run)


def backup_job(config: Config, clock: Clock) -> Job:
    """The daily copy of the database to [backup] path, at [backup] hour local time; one missed while
    the Pi was off is made at the next start; a failure (the USB stick pulled out) is logged and
    tried again an hour later, never spinning."""
    folder, source = Path(config.backup.path), Path(config.database.path)
    tz = ZoneInfo(config.broadcasts.timezone)
    failed_at: list[float] = []

    async def next_at() -> float:
        due = await asyncio.to_thread(backup.next_due, folder, datetime.fromtimestamp(clock(), tz), config.backup.hour)
        return max(due.timestamp(), failed_at[-1] + 3600 if failed_at else 0.0)

    async def run(now: float, grace: float) -> list[asyncio.Task[None]]:
        today = datetime.fromtimestamp(now, tz).date()
        try:
            made = await asyncio.to_thread(backup.daily, source, folder, today, config.backup)
        except (OSError, sqlite3.Error, backup.BackupError) as e:
            failed_at.append(now)
            log.error("daily backup to %s failed: %s; trying again in an hour", folder, e)
        else:
            failed_at.clear()
            log.info("database backed up to %s", made)
        return []

    return Job("backup", math.inf, next_at, run)
