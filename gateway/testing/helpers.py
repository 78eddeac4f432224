"""Waits without sleeping, a clock moved by hand, and a resident's phone, for tests on the real app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.core.keys import NOTIFIER, STORE
from gateway.testing.emulator import EmulatedModem, SentMessage

WAIT = 20.0
RESIDENT = "+84961234567"
VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(year: int, month: int, day: int, hour: int, minute: int, second: int = 0) -> float:
    """A moment in the commune's time zone, as the app's clock counts it."""
    return datetime(year, month, day, hour, minute, second, tzinfo=VN).timestamp()


class FakeClock:
    """The app's clock, moved by hand: schedules, quiet hours and confirmation windows without waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def set(self, now: float) -> None:
        self.now = now


async def until(client: Any, check: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    """Wait, without sleeping, until check() holds: re-checked at every change the app signals."""
    async with asyncio.timeout(timeout):
        await client.app[NOTIFIER].wait_until(check)


async def sql(client: Any, query: str, *args: Any) -> list[tuple[Any, ...]]:
    def run(db: Any) -> list[tuple[Any, ...]]:
        return list(db.execute(query, list(args)).fetchall())

    rows: list[tuple[Any, ...]] = await client.app[STORE].call(run)
    return rows


async def count(client: Any, table: str) -> int:
    return int((await sql(client, f"select count(*) from {table}"))[0][0])


async def wait_sent(emu: EmulatedModem, count: int, timeout: float = WAIT) -> list[SentMessage]:
    async with asyncio.timeout(timeout):
        return await emu.wait_sent(count)


async def inbox(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/inbox", headers=headers)
    assert resp.status == 200
    return list((await resp.json())["messages"])


async def wait_inbox(client: Any, n: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    async def enough() -> bool:
        return await count(client, "inbox") >= n

    await until(client, enough)
    return await inbox(client, headers)


async def routed(client: Any, n: int) -> None:
    """At least n inbound messages have been through the router."""

    async def done() -> bool:
        rows = await sql(client, "select count(*) from inbox where routed_at is not null")
        return int(rows[0][0]) >= n

    await until(client, done)


async def settled(client: Any) -> None:
    """Every message queued so far has reached the emulated network."""

    async def done() -> bool:
        rows = await sql(client, "select count(*) from outbox where status in ('queued','sending')")
        return int(rows[0][0]) == 0

    await until(client, done)


def to(emulator: EmulatedModem, number: str = RESIDENT) -> list[SentMessage]:
    """Everything the gateway sent to this phone."""
    return [m for m in emulator.messages() if m.number == number]


async def say(client: Any, emulator: EmulatedModem, text: str, sender: str = RESIDENT) -> list[SentMessage]:
    """A resident's phone sends `text`; returns what the gateway sent back to it for that."""
    before = len(to(emulator, sender))
    n = await count(client, "inbox")
    emulator.deliver(sender, text)
    await routed(client, n + 1)
    await settled(client)
    return to(emulator, sender)[before:]


async def csrf_of(client: Any, path: str) -> str:
    """The CSRF token a console page carries (the form a person would post)."""
    html = str(await (await client.get(path)).text())
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


async def log_in(client: Any, username: str, password: str) -> int:
    """Log in to the console as a person does, through the login form; the status of the answer."""
    csrf = await csrf_of(client, "/login")
    resp = await client.post(
        "/login", data={"csrf": csrf, "username": username, "password": password}, allow_redirects=False
    )
    return int(resp.status)
