"""The composition root: create_app wires config, store, modem and services; it does no I/O."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from audio.player import Player, Station, make_player, make_relay
from audio.render import Renderer
from broadcasts import views as broadcast_views
from broadcasts.announcements import Announcer
from broadcasts.service import Broadcasts
from gateway.config import Config
from gateway.errors import error_middleware
from gateway.keys import (
    ANNOUNCER,
    BROADCASTS,
    CONFIG,
    HARDWARE,
    INBOX,
    NOTIFIER,
    OUTBOX,
    RESIDENTS,
    STORE,
    TOKENS,
    Hardware,
)
from gateway.keywords import views as keyword_views
from gateway.keywords.service import Residents
from gateway.notify import Notifier
from gateway.sms.at import ATModem
from gateway.sms.emulator import EmulatedModem
from gateway.sms.inbox import Inbox
from gateway.sms.modem import Modem
from gateway.sms.outbox import Outbox
from gateway.store import Store
from gateway.ussd import views as ussd_views
from gateway.web import api, console
from gateway.web.http import audit_api

log = logging.getLogger(__name__)


def create_app(
    config: Config,
    *,
    modem: Modem | None = None,
    player: Player | None = None,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    app = web.Application(middlewares=[error_middleware, audit_api])
    app[CONFIG] = config
    store = Store(config.database.path)
    notifier = Notifier()
    emulator = None
    if modem is None:
        if config.modem.port == "emulator":
            emulator = EmulatedModem(config.modem.emulator_family, submit_delay=0.2, auto_report=True)
            modem = ATModem("", config.modem, emulated=True)
        else:
            modem = ATModem(config.modem.port, config.modem)
    inbox = Inbox(store, notifier, clock, config.sms.reassembly_timeout)
    outbox = Outbox(store, modem, config.sms, notifier, clock)
    inbox.on_report = outbox.handle_report
    residents = Residents(store, outbox, config, notifier, clock)
    inbox.on_message.append(residents.message_stored)
    broadcasts = Broadcasts(store, outbox, config, notifier, clock)
    residents.interceptors.append(broadcasts.interceptor)
    p = config.player
    station = Station(player or make_player(p), make_relay(p), p.warmup, p.tail)
    announcer = Announcer(store, Renderer(config.audio), station, config, notifier, clock)
    modem.attach(inbox)
    app[STORE] = store
    app[NOTIFIER] = notifier
    app[HARDWARE] = Hardware(modem, emulator)
    app[INBOX] = inbox
    app[OUTBOX] = outbox
    app[RESIDENTS] = residents
    app[BROADCASTS] = broadcasts
    app[ANNOUNCER] = announcer
    tokens = set(config.api.tokens)
    if not tokens and config.source == "built-in defaults":
        # demo mode only: a token for this run, printed at start, never stored
        tokens.add(secrets.token_urlsafe(18))
    app[TOKENS] = frozenset(tokens)
    app.cleanup_ctx.extend([_store_ctx, _modem_ctx, _tasks_ctx])
    app.add_routes(api.routes)
    app.add_routes(keyword_views.routes)
    app.add_routes(ussd_views.routes)
    app.add_routes(broadcast_views.routes)
    console.setup(app)
    return app


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.open()
    log.info("database %s", store.path)
    yield
    await store.close()


async def _modem_ctx(app: web.Application) -> AsyncIterator[None]:
    hw = app[HARDWARE]
    if hw.emulator is not None:
        await hw.emulator.start()
        assert isinstance(hw.modem, ATModem)
        hw.modem.port = hw.emulator.path
        log.warning("no modem configured: using the built-in EMULATED modem at %s", hw.emulator.path)
    hw.modem.info.emulated = hw.emulator is not None or hw.modem.info.emulated
    if isinstance(hw.modem, ATModem):
        hw.modem.on_state = app[NOTIFIER].notify
    await hw.modem.start()
    yield
    await hw.modem.close()
    if hw.emulator is not None:
        await hw.emulator.close()


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    tokens: frozenset[str] = app[TOKENS]
    if config.source == "built-in defaults" and not config.api.tokens:
        log.warning("demo mode: API token for this run: %s", next(iter(tokens)))
    elif not tokens:
        log.warning("no [api] tokens configured: the API answers 401 until you add one")
    await app[RESIDENTS].start()
    tasks = [
        asyncio.create_task(app[OUTBOX].run(), name="outbox"),
        asyncio.create_task(app[RESIDENTS].run(), name="residents"),
        asyncio.create_task(app[BROADCASTS].run(), name="broadcasts"),
        asyncio.create_task(app[ANNOUNCER].run(), name="announcements"),
        asyncio.create_task(app[INBOX].run_reassembly_sweeper(), name="reassembly"),
    ]
    yield
    await app[ANNOUNCER].close()
    app[ANNOUNCER].renderer.close()
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
