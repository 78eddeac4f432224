"""Backups: a daily checked copy while sending, rotation, restore refused while running, a copy before
every upgrade, one gateway per database."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.app import MIGRATIONS
from gateway.core import backup
from gateway.core.backup import BackupConfig
from gateway.core.errors import StoreUnavailable
from gateway.core.store import Store
from gateway.testing import AUTH, EmulatedModem, FakeClock, at, sql, wait_sent
from gateway.web import accounts
from schedules.keys import SCHEDULER

LOA = [sys.executable, "-m", "gateway.cli"]


def rows(path: Path, query: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(path)
    try:
        return list(db.execute(query).fetchall())
    finally:
        db.close()


async def test_the_daily_copy_is_made_at_its_hour_while_sending_and_holds_the_same_rows(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path
) -> None:
    clock = FakeClock(at(2026, 12, 7, 2, 0))
    usb = tmp_path / "usb"
    client = await start_gateway(emulator, clock=clock, backup={"path": str(usb)})
    numbers = [f"09120000{i:02d}" for i in range(20)]
    resp = await client.post("/api/v1/messages", json={"to": numbers, "text": "Họp thôn 19h"}, headers=AUTH)
    assert resp.status == 202
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 2, 59))
    assert not usb.exists()  # not before its hour
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 3, 0))
    copy = usb / "loa-2026-12-07.sqlite3"
    assert backup.check(copy) == "ok"
    assert oct(copy.stat().st_mode & 0o777) == "0o600"
    live = await sql(client, "select id, recipient, text from outbox order by id")
    assert rows(copy, "select id, recipient, text from outbox order by id") == live and len(live) == 20
    await wait_sent(emulator, 20)  # the gateway went on sending throughout
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 9, 0))
    assert [p.name for p in usb.iterdir()] == [copy.name]  # one a day


async def test_a_missing_stick_is_tried_again_an_hour_later_without_stopping_anything(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the stick's folder should be")
    clock = FakeClock(at(2026, 12, 7, 2, 0))
    client = await start_gateway(emulator, clock=clock, backup={"path": str(blocked / "loa")})
    job = next(j for j in client.app[SCHEDULER].jobs if j.name == "backup")
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 3, 0))
    assert await job.next_at() == at(2026, 12, 7, 4, 0)
    resp = await client.post("/api/v1/messages", json={"to": ["0912000001"], "text": "Vẫn gửi"}, headers=AUTH)
    assert resp.status == 202


def test_rotation_keeps_a_week_of_days_and_a_month_of_weeks(tmp_path: Path) -> None:
    source = tmp_path / "loa.sqlite3"
    with sqlite3.connect(source) as db:
        db.execute("create table t (x)")
    db.close()
    folder = tmp_path / "usb"
    first = date(2026, 10, 29)
    for n in range(40):  # 29 October … 7 December (a Monday)
        backup.daily(source, folder, first + timedelta(days=n), BackupConfig(path=str(folder)))
    kept = sorted(p.name for p in folder.iterdir())
    days = [f"loa-2026-12-0{d}.sqlite3" for d in range(1, 8)]
    assert kept == ["loa-2026-11-22.sqlite3", "loa-2026-11-29.sqlite3", *days]


def test_restore_is_refused_while_loa_runs_and_keeps_the_replaced_database(tmp_path: Path) -> None:
    database = tmp_path / "data" / "loa.sqlite3"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{database}"\n', encoding="utf-8")

    async def seed() -> None:
        store = Store(database, MIGRATIONS)
        await store.open()
        await store.call(accounts.add_user, "quantri", "matkhau-an-toan-1", "admin", None, 0.0)
        await store.close()

    asyncio.run(seed())
    done = subprocess.run([*LOA, "backup", "--to", str(tmp_path / "usb"), "--config", str(config)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (copy,) = (tmp_path / "usb").iterdir()
    with sqlite3.connect(database) as db:
        db.execute("insert into users (username, password_hash, role, created_at) values ('sau', 'x', 'admin', 0)")
    db.close()

    async def restore_while_running() -> subprocess.CompletedProcess[str]:
        store = Store(database, MIGRATIONS)
        await store.open()
        try:
            return subprocess.run([*LOA, "restore", str(copy), "--config", str(config)], capture_output=True, text=True)
        finally:
            await store.close()

    refused = asyncio.run(restore_while_running())
    assert refused.returncode == 1 and "Loa is running" in refused.stderr
    assert len(rows(database, "select * from users")) == 2
    # an account added since: without a terminal nothing is dropped unasked
    asked = subprocess.run([*LOA, "restore", str(copy), "--config", str(config)], capture_output=True, text=True)
    assert asked.returncode == 1 and "1 dòng chỉ có hôm nay" in asked.stdout and "accounts differ" in asked.stderr
    assert len(rows(database, "select * from users")) == 2
    restored = subprocess.run([*LOA, "restore", str(copy), "--yes", "--accounts", "backup", "--config", str(config)],
                              capture_output=True, text=True)  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert rows(database, "select username from users") == [("quantri",)]
    (replaced,) = database.parent.glob("loa.sqlite3.replaced-*")
    assert rows(replaced, "select username from users order by id") == [("quantri",), ("sau",)]


async def test_an_upgrade_copies_the_database_before_migrating(tmp_path: Path) -> None:
    path = tmp_path / "loa.sqlite3"
    older = [*MIGRATIONS[:-1], MIGRATIONS[-1][:-1]]  # the release before the newest migration
    newest = MIGRATIONS[-1][-1][0]
    store = Store(path, older)
    await store.open()
    await store.call(accounts.add_user, "quantri", "matkhau-an-toan-1", "admin", None, 0.0)
    await store.close()
    store = Store(path, MIGRATIONS)
    await store.open()
    await store.close()
    before = tmp_path / f"loa.sqlite3.before-{newest}"
    assert backup.check(before) == "ok"
    assert rows(before, "select username from users") == [("quantri",)]
    assert rows(before, f"select name from _migrations where name='{newest}'") == []
    assert rows(path, f"select name from _migrations where name='{newest}'") == [(newest,)]


async def test_one_gateway_per_database(tmp_path: Path) -> None:
    first = Store(tmp_path / "loa.sqlite3", MIGRATIONS)
    await first.open()
    second = Store(tmp_path / "loa.sqlite3", MIGRATIONS)
    with pytest.raises(StoreUnavailable, match="đang được một Loa khác dùng"):
        await second.open()
    await first.close()
    await second.open()  # free again once the first has stopped
    await second.close()
