"""Logins under a crowd: parallel attempts for one account, a flood from one address, clients behind
the reverse proxy, and the audit log they would write."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core import commune
from gateway.core.errors import LoginRefused
from gateway.core.keys import STORE
from gateway.testing import VN, EmulatedModem, FakeClock, at, csrf_of, sql
from gateway.web import accounts
from gateway.web import migrations as web_migrations
from schedules.keys import SCHEDULER

PASSWORD = "matkhau-an-toan-1"
WRONG = "sai-mat-khau"


async def add(client: Any, username: str = "quantri", role: str = "admin") -> None:
    await client.app[STORE].call(accounts.add_user, username, PASSWORD, role, None, time.time())


async def post_login(client: Any, csrf: str, password: str, headers: dict[str, str] | None = None) -> int:
    data = {"csrf": csrf, "username": "quantri", "password": password}
    resp = await client.post("/login", data=data, headers=headers or {}, allow_redirects=False)
    await resp.read()
    return int(resp.status)


def _database(tmp: Path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(sqlite3.connect(tmp / "loa.db", isolation_level=None))
    for _, migration in [*commune.MIGRATIONS, *web_migrations.MIGRATIONS]:
        migration(db)
    accounts.insert_user(db, "quantri", _hash(), "admin", None, 0.0)
    return db


@functools.cache
def _hash() -> str:
    return accounts.hash_password(PASSWORD)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(min_value=2, max_value=40), lock_after=st.integers(min_value=1, max_value=12), right=st.data())
def test_attempts_checked_together_are_each_counted_before_the_next_is_checked(
    tmp_path_factory: Any, n: int, lock_after: int, right: st.DataObject
) -> None:
    """Step 1 of every attempt runs before any password is known (what 60 logins at once do): no more
    than lock_after of them get to have their password checked, the right one included."""
    db = _database(tmp_path_factory.mktemp("db"))
    good = right.draw(st.integers(min_value=0, max_value=n - 1))
    passed = []
    for i in range(n):
        with contextlib.suppress(LoginRefused):
            passed.append((i, accounts.login_attempt(db, "quantri", "198.51.100.4", 100.0, lock_after, 900.0, VN)))
    assert len(passed) <= lock_after
    for i, attempt in passed:
        ok = i == good  # what argon2 would answer, without its 0.1 s a check
        try:
            accounts.login_result(db, attempt, ok, 100.0)
        except LoginRefused:
            assert i != good
    assert (good < lock_after) == any(i == good for i, _ in passed)


async def test_sixty_logins_at_once_never_let_the_right_password_through_after_the_lock(gateway: Any) -> None:
    await add(gateway)
    csrf = await csrf_of(gateway, "/login")
    passwords = [WRONG] * 60
    passwords[30] = PASSWORD  # the right one in the middle of the crowd
    statuses = await asyncio.gather(*(post_login(gateway, csrf, p) for p in passwords))
    assert statuses[30] == 401
    assert set(statuses) == {401}
    # however many came at once, no more than the lock lets through were ever checked
    (failures,) = (await sql(gateway, "select count(*) from login_failures"))[0]
    assert failures <= 10


async def test_a_flood_from_one_address_is_counted_not_written_row_by_row(gateway: Any) -> None:
    await add(gateway)
    csrf = await csrf_of(gateway, "/login")
    for _ in range(3):
        await asyncio.gather(*(post_login(gateway, csrf, WRONG) for _ in range(50)))
    (rows,) = (await sql(gateway, "select count(*) from audit"))[0]
    assert rows <= 12  # the ten wrong passwords, and one row that counts the rest
    (detail,) = (await sql(gateway, "select detail from audit where action='đăng nhập bị chặn'"))[0]
    assert "lần bị chặn" in detail


async def test_behind_the_proxy_a_strangers_wrong_passwords_lock_only_the_stranger(gateway: Any) -> None:
    await add(gateway)
    csrf = await csrf_of(gateway, "/login")
    stranger = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(31):
        assert await post_login(gateway, csrf, WRONG, stranger) == 401
    assert await post_login(gateway, csrf, PASSWORD, stranger) == 401
    # a client that writes its own X-Forwarded-For before the proxy adds the real one gains nothing
    spoofed = {"X-Forwarded-For": "192.0.2.99, 203.0.113.7"}
    assert await post_login(gateway, csrf, PASSWORD, spoofed) == 401
    assert await post_login(gateway, csrf, PASSWORD, {"X-Forwarded-For": "192.168.1.20"}) == 303


async def test_metrics_through_the_proxy_ask_for_a_token(gateway: Any) -> None:
    assert (await gateway.get("/metrics")).status == 200  # the Pi's own Prometheus
    assert (await gateway.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})).status == 401
    assert (await gateway.get("/metrics", headers={"X-Real-IP": "203.0.113.7"})).status == 401


async def test_x_forwarded_for_from_a_peer_not_named_is_ignored(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, web={"trusted_proxies": ["10.9.9.9"]})
    await add(client)
    csrf = await csrf_of(client, "/login")
    for i in range(10):  # a new "address" each time: the peer is what counts
        assert await post_login(client, csrf, WRONG, {"X-Forwarded-For": f"203.0.113.{i}"}) == 401
    assert await post_login(client, csrf, PASSWORD, {"X-Forwarded-For": "192.168.1.20"}) == 401
    # and a forwarded request from a proxy not named gets no free /metrics either
    assert (await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})).status == 401


async def test_the_audit_log_keeps_what_its_retention_says(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    client = await start_gateway(emulator, clock=clock, web={"audit_days": 30})
    store = client.app[STORE]
    await store.call(accounts.audit, "canbo", "đăng nhập", "cũ", at(2026, 10, 1, 9, 0))
    await store.call(accounts.audit, "canbo", "đăng nhập", "mới", at(2026, 12, 1, 9, 0))
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 11, 0))  # the daily housekeeping
    assert await sql(client, "select detail from audit") == [("mới",)]
