"""Fixtures: the real app factory on a tmp SQLite file, talking to the emulated modem over a pty."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway import config as config_mod
from gateway.app import create_app
from gateway.keys import HARDWARE, NOTIFIER, STORE
from gateway.sms.emulator import EmulatedModem

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WAIT = 20.0
HAMLETS = ["Nà Phìn", "Khau Phạ", "Khau Vai", "Pả Vi", "Lũng Cú"]


def make_config(tmp_path: Path, port: str, **sections: dict[str, Any]) -> config_mod.Config:
    raw: dict[str, Any] = {
        "database": {"path": str(tmp_path / "loa.sqlite3")},
        "modem": {
            "port": port,
            "command_timeout": 2.0,
            "send_timeout": 5.0,
            "reconnect_min": 0.05,
            "reconnect_max": 0.2,
        },
        "sms": {"retry_base": 0.01, "retry_max": 0.05},
        "api": {"tokens": [TOKEN]},
        "commune": {"name": "xã Nà Phìn", "hamlets": HAMLETS},
        "audio": {"cache_dir": str(tmp_path / "audio")},
        "player": {"kind": "recording", "relay": "recording", "warmup": 0.0, "tail": 0.0},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return config_mod.from_dict(raw, source="test")


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[EmulatedModem]:
    emu = EmulatedModem("huawei", link_dir=tmp_path)
    await emu.start()
    yield emu
    await emu.close()


@pytest.fixture
def start_gateway(aiohttp_client: Any, tmp_path: Path) -> Callable[..., Awaitable[Any]]:
    async def start(
        emu: EmulatedModem,
        clock: Callable[[], float] | None = None,
        player: Any = None,
        **sections: dict[str, Any],
    ) -> Any:
        config = make_config(tmp_path, emu.path, **sections)
        app = create_app(config, player=player, clock=clock) if clock else create_app(config, player=player)
        client = await aiohttp_client(app)
        await until(client, lambda: _connected(client))
        return client

    return start


@pytest.fixture
async def gateway(emulator: EmulatedModem, start_gateway: Callable[..., Awaitable[Any]]) -> Any:
    return await start_gateway(emulator)


async def _connected(client: Any) -> bool:
    return bool(client.app[HARDWARE].modem.info.connected)


async def until(client: Any, check: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    """Wait, without sleeping, until check() holds: re-checked at every change the app signals."""
    async with asyncio.timeout(timeout):
        await client.app[NOTIFIER].wait_until(check)


async def sql(client: Any, query: str, *args: Any) -> list[tuple[Any, ...]]:
    def run(db: Any) -> list[tuple[Any, ...]]:
        return list(db.execute(query, list(args)).fetchall())

    rows: list[tuple[Any, ...]] = await client.app[STORE].call(run)
    return rows


async def wait_sent(emu: EmulatedModem, count: int, timeout: float = WAIT) -> list[Any]:
    async with asyncio.timeout(timeout):
        return await emu.wait_sent(count)


class FakeClock:
    """The app's clock, moved by hand: schedules, quiet hours and confirmation windows without waiting."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
