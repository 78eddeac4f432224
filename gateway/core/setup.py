"""The floor's setup: the store (opened first, closed last) and the notifier, for every package after it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.config import Config
from gateway.core import commune
from gateway.core.keys import NOTIFIER, STORE
from gateway.core.notify import Notifier
from gateway.core.store import MigrationSet, Store

log = logging.getLogger(__name__)
MIGRATIONS: list[MigrationSet] = [commune.MIGRATIONS]


def setup(app: web.Application, config: Config) -> None:
    app[STORE] = Store(config.database.path, MIGRATIONS, min_free_mb=config.database.min_free_mb)
    app[NOTIFIER] = Notifier()
    app.cleanup_ctx.append(_store_ctx)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.open()
    log.info("database %s", store.path)
    yield
    await store.close()
