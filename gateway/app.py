"""The composition root: create_app sets each package up, in order; no I/O until the app starts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from types import ModuleType

from aiohttp import web

import broadcasts.setup
import bulletins.setup
import compat.setup
import gateway.core.setup
import gateway.residents.setup
import gateway.sms.setup
import gateway.ussd.setup
import gateway.web.setup
import schedules.setup
import station.setup
import station.views.setup
from audio.player import Player
from broadcasts.setup import MAX_BODY
from gateway import dashboard, housekeeping, metrics
from gateway.config import Config
from gateway.core.clock import Clock, system_clock
from gateway.core.keys import CLOCK, LOOPS
from gateway.core.loops import Loops
from gateway.core.store import MigrationSet, Store
from gateway.sms.setup import EMULATED, GIVEN_TRANSPORT
from gateway.sms.transport import Transport
from gateway.web.http import audit_api, error_middleware, guard
from station.setup import GIVEN_PLAYER

# Each package sets itself up: its keys, tables, routes, jobs, router handlers and start/stop.
# A package uses only what those above it have set up; the app starts them in this order and
# stops them in the reverse one (the loops every package added run once all are started).
PACKAGES: tuple[ModuleType, ...] = (
    gateway.core.setup,  # the store (every package's tables) and the notifier
    schedules.setup,  # the one scheduler every package adds its jobs to
    station.setup,  # the outputs (wired, FM, Icecast, RTP), zones, the per-output log; relays off first
    gateway.sms.setup,  # transports, outbox, inbox, router, the clock's trust, SIM balance; /healthz
    gateway.web.setup,  # sessions, CSRF, templates, accounts, API tokens
    gateway.residents.setup,  # answers, subscriptions, the officials' inbox; their router handlers
    gateway.ussd.setup,  # the USSD menu over the residents' knowledge base
    station.views.setup,  # the station's outputs, receivers and report in the console and the API
    broadcasts.setup,  # contacts, reminders, alerts ("OK" first in the router), announcements, speakers
    compat.setup,  # Kannel's sendsms and sms-service, RapidPro's EX channel, Jasmin's /send
    bulletins.setup,  # disaster warnings: CAP in and out, typed bulletins, their cadence, one stop
    dashboard,  # the console's first page
    metrics,  # /metrics for Prometheus
    housekeeping,  # the daily backup, WAL checkpoint and old audio removed
)


# every package's tables, in the order of PACKAGES (the floor's first); a name is never reused
MIGRATIONS: list[MigrationSet] = [m for package in PACKAGES for m in getattr(package, "MIGRATIONS", [])]


def open_store(config: Config, *, shared: bool = False) -> Store:
    """The database with every package's tables, for commands that run without the app."""
    return Store(config.database.path, MIGRATIONS, min_free_mb=config.database.min_free_mb, shared=shared)


def create_app(
    config: Config,
    *,
    transport: Transport | None = None,
    player: Player | None = None,
    clock: Clock = system_clock,
    emulated: Collection[str] = (),
) -> web.Application:
    """The app for `config`; `transport` and `player` stand in for the configured ones (tests,
    benchmarks), `emulated` names the ports of the emulators `loa run` started for demo mode."""
    # the biggest body any path takes (a clip); every other path is held to its own limit by `guard`
    app = web.Application(middlewares=[guard, error_middleware, audit_api], client_max_size=MAX_BODY)
    app[CLOCK] = clock
    app[LOOPS] = Loops()
    app[EMULATED] = frozenset(emulated)
    if transport is not None:
        app[GIVEN_TRANSPORT] = transport
    if player is not None:
        app[GIVEN_PLAYER] = player
    for package in PACKAGES:
        package.setup(app, config)
    app.cleanup_ctx.append(_loops_ctx)
    return app


async def _loops_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[LOOPS].start()
    yield
    await app[LOOPS].stop()
