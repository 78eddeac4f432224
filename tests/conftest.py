"""Fixtures: the real app factory on a tmp SQLite file, talking to the emulated modem over a pty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.app import create_app
from gateway.sms.keys import TRANSPORT
from gateway.testing import EmulatedModem, make_config, until


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
        player_config: dict[str, Any] | None = None,
        **sections: dict[str, Any],
    ) -> Any:
        # `player` is the Player object a test listens to; `player_config` the [player] section
        config = make_config(tmp_path, emu.path, **sections, **({"player": player_config} if player_config else {}))
        if clock is not None:
            emu.network_time = clock  # the mobile network agrees with the test's clock
        app = create_app(config, player=player, clock=clock) if clock else create_app(config, player=player)
        client = await aiohttp_client(app)
        await until(client, lambda: _connected(client))
        return client

    return start


@pytest.fixture
async def gateway(emulator: EmulatedModem, start_gateway: Callable[..., Awaitable[Any]]) -> Any:
    return await start_gateway(emulator)


async def _connected(client: Any) -> bool:
    return bool(client.app[TRANSPORT].info.connected)
