"""The composition root: create_app wires config, store, transport, scheduler and services; no I/O."""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from audio.player import Player, Station, make_lines, make_player, make_relay
from audio.render import Renderer, prune
from broadcasts import migrations as broadcast_migrations
from broadcasts import views as broadcast_views
from broadcasts.announcements import Announcer
from broadcasts.keys import ANNOUNCER
from broadcasts.service import Broadcasts
from broadcasts.views import MAX_CLIP
from gateway import dashboard, metrics
from gateway.config import Config, all_modems
from gateway.core import backup, commune, phone
from gateway.core.clock import Clock, system_clock
from gateway.core.keys import CLOCK, NOTIFIER, STORE
from gateway.core.notify import Notifier
from gateway.core.store import MigrationSet, Store
from gateway.core.text import fold
from gateway.residents import migrations as keyword_migrations
from gateway.residents import views as keyword_views
from gateway.residents.keys import RESIDENTS
from gateway.residents.service import Residents
from gateway.sms import credit
from gateway.sms import migrations as sms_migrations
from gateway.sms import views as sms_views
from gateway.sms.at import ATModem
from gateway.sms.clock_trust import ClockTrust, latest_record
from gateway.sms.config import ModemConfig
from gateway.sms.credit import Credit
from gateway.sms.encoding import prepare
from gateway.sms.inbox import Inbox
from gateway.sms.keys import CLOCK_TRUST, INBOX, OUTBOX, ROUTER
from gateway.sms.outbox import Channel, Outbox
from gateway.sms.router import Router
from gateway.sms.smpp import SmppTransport
from gateway.sms.transport import Transport
from gateway.testing.emulator import EmulatedModem
from gateway.ussd import views as ussd_views
from gateway.ussd.service import Ussd
from gateway.web import migrations as web_migrations
from gateway.web import pages
from gateway.web import views as web_views
from gateway.web.console import Console
from gateway.web.http import audit_api, error_middleware, guard
from gateway.web.keys import BIG_BODIES, TOKENS
from schedules.keys import SCHEDULER
from schedules.scheduler import Job, Scheduler

log = logging.getLogger(__name__)

# every package's tables, in the order they were first made (names are never reused)
MIGRATIONS: list[MigrationSet] = [
    commune.MIGRATIONS,
    sms_migrations.MIGRATIONS,
    keyword_migrations.MIGRATIONS,
    broadcast_migrations.MIGRATIONS,
    web_migrations.MIGRATIONS,
    credit.MIGRATIONS,
]
CONFIG = web.AppKey("config", Config)
EMULATORS = web.AppKey("emulators", list[EmulatedModem])


def open_store(config: Config, *, shared: bool = False) -> Store:
    return Store(config.database.path, MIGRATIONS, min_free_mb=config.database.min_free_mb, shared=shared)


def create_app(
    config: Config,
    *,
    transport: Transport | None = None,
    player: Player | None = None,
    clock: Clock = system_clock,
) -> web.Application:
    # the biggest body any path takes (a clip); every other path is held to its own limit by `guard`
    app = web.Application(middlewares=[guard, error_middleware, audit_api], client_max_size=MAX_CLIP + 65536)
    app[CONFIG] = config
    app[BIG_BODIES] = {}
    app[CLOCK] = clock
    store = app[STORE] = open_store(config)
    notifier = app[NOTIFIER] = Notifier()
    scheduler = app[SCHEDULER] = Scheduler(clock)

    app[EMULATORS] = []

    def changed() -> None:
        """A transport came or went: the console hears, and the other senders may take its queue."""
        outbox.wake()

    def make_modem(m: ModemConfig) -> ATModem:
        if m.port != "emulator":
            return ATModem(m, on_change=changed, clock=clock, on_back=lambda text: tell(text))
        emulator = EmulatedModem(m.emulator_family, submit_delay=0.2, auto_report=True)
        app[EMULATORS].append(emulator)
        return ATModem(
            m,
            port=lambda: emulator.path,
            emulated=True,
            on_change=changed,
            clock=clock,
            on_back=lambda text: tell(text),
        )

    if transport is not None:
        channels = [Channel(all_modems(config)[0].name if all_modems(config) else "modem 1", transport)]
    else:
        # every modem of the pool, then SMPP: each its own transport with its own sender
        channels = [
            Channel(m.name, make_modem(m), carrier=m.carrier, per_minute=m.per_minute) for m in all_modems(config)
        ]
        if config.smpp.enabled:
            s = config.smpp
            smpp = SmppTransport(s, on_change=changed)
            channels.append(Channel("smpp", smpp, smpp=True, window=s.window, per_minute=s.per_second * 60))
    outbox = Outbox(store, channels, config.sms, notifier, clock, config.routing)
    transport = outbox.transport

    async def tell(text: str) -> None:
        """The maintainers, by SMS, that the modem is back after a power cycle."""
        if config.modem.tell_when_back:
            to = [phone.normalise(n) for n in config.modem.tell_when_back]
            await outbox.enqueue(to, prepare(text, "auto"), priority="alert", source="modem:back")

    # reminders and announcements wait while the Pi's clock (no battery) is known to be wrong
    setter = _set_system_clock if config.schedules.set_clock_from_network and clock is system_clock else None
    clock_trust = ClockTrust(clock, transport, set_clock=setter, use_network=config.schedules.trust_network_time)
    scheduler.hold = clock_trust.hold

    p = config.player
    # each line under the commune's own spelling of its hamlet ("Na Phin=22" is Nà Phìn's)
    spelling = {fold(h).lower(): h for h in config.commune.hamlets}
    lines = {spelling.get(fold(name).lower(), name): relay for name, relay in make_lines(p).items()}
    station = Station(player or make_player(p), make_relay(p), p.warmup, p.tail, lines=lines)
    announcer = Announcer(
        store, Renderer(config.audio), station, scheduler, notifier, clock,
        timezone=config.broadcasts.timezone, repeat=config.audio.repeat, grace=config.schedules.grace,
    )  # fmt: skip
    broadcasts = Broadcasts(
        store, outbox, announcer, scheduler, notifier, clock, config=config.broadcasts, policy=config.sms.encoding,
        reply_cap=config.residents.daily_reply_cap,
    )  # fmt: skip
    residents = Residents(
        store, outbox, notifier, clock, config=config.residents, commune=config.commune, policy=config.sms.encoding
    )

    # What happens to an SMS a resident sends: the first handler that takes it.
    router = app[ROUTER] = Router(
        store,
        notifier,
        clock,
        [
            ("alert acknowledgement", broadcasts.acknowledge),  # OK / OK <id> from someone alerted
            ("commands", residents.commands),  # help, HUY / TC / STOP
            ("numbered choice", residents.choices),  # a digit answering "Nhắn số: 1 … 2 …"
            ("subscription", residents.subscription),  # DK <thôn>
            ("keywords", residents.keywords),  # a procedure's answer, or a choice between some
            ("officials' question", residents.question),  # nobody else could: the officials' inbox
        ],
    )
    inbox = Inbox(store, notifier, clock, config.sms, router, scheduler)
    # each modem's SIM has its own balance (SMPP has none to ask)
    sims = {c.name: c.transport for c in outbox.channels if not c.smpp}
    sim_credit = Credit(store, sims, outbox, notifier, clock, config.credit)
    scheduler.add(inbox.job(), *broadcasts.jobs(), *announcer.jobs(), *sim_credit.jobs())
    if config.backup.path:
        scheduler.add(_backup_job(config, clock))
    scheduler.add(_housekeeping_job(config, store, announcer, clock))

    tokens = set(config.api.tokens)
    if not tokens and config.source == "built-in defaults":
        # demo mode only: a token for this run, printed at start, never stored
        tokens.add(secrets.token_urlsafe(18))
    app[TOKENS] = frozenset(tokens)

    pages.setup(
        app,
        config.web,
        Console(config.commune.name, config.broadcasts.timezone),
        templates=["gateway.web", "gateway", "gateway.residents", "broadcasts"],
        key_file=Path(config.database.path + ".session-key"),
    )
    web_views.setup(app, config.web)
    sms_views.setup(app, outbox, inbox, clock_trust, sim_credit)
    keyword_views.setup(app, residents)
    ussd_views.setup(app, Ussd(store, residents, commune=config.commune.name, config=config.residents))
    broadcast_views.setup(app, broadcasts)
    app.add_routes(dashboard.routes)
    app.add_routes(metrics.routes)
    app.cleanup_ctx.extend([_speakers_ctx, _store_ctx, _transport_ctx, _tasks_ctx])
    return app


def _set_system_clock(when: float) -> None:
    time.clock_settime(time.CLOCK_REALTIME, when)


def _housekeeping_job(config: Config, store: Store, announcer: Announcer, clock: Clock) -> Job:
    """Once a day: the WAL folded back into the database, and old rendered audio removed."""
    done_at: list[float] = []

    async def next_at() -> float:
        if not done_at:
            done_at.append(clock() + 3600 - 86400)  # the first an hour after start
        return done_at[-1] + 86400

    async def run(now: float, grace: float) -> list[asyncio.Task[None]]:
        done_at[:] = [now]
        await store.call(lambda db: db.execute("pragma wal_checkpoint(truncate)").fetchall())
        keep = await announcer.audio_in_use()
        a = config.audio
        removed = await asyncio.to_thread(
            prune, Path(a.cache_dir), keep, time.time(), a.cache_days * 86400, a.cache_max_mb * 2**20
        )
        log.info("housekeeping: WAL checkpointed, %d old audio files removed", len(removed))
        return []

    return Job("housekeeping", math.inf, next_at, run)


def _backup_job(config: Config, clock: Clock) -> Job:
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


async def _speakers_ctx(app: web.Application) -> AsyncIterator[None]:
    """Before anything else: the amplifier relay off, whatever a power cut left it in."""
    station = app[ANNOUNCER].station
    try:
        await station.reset()
        log.info("amplifier relay switched off at start")
    except Exception:
        log.exception("could not switch the amplifier relay off at start")
    yield
    await station.reset()


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    store = app[STORE]
    await store.open()
    log.info("database %s", store.path)
    yield
    await store.close()


async def _transport_ctx(app: web.Application) -> AsyncIterator[None]:
    for emulator in app[EMULATORS]:
        await emulator.start()
        log.warning("no modem configured: using the built-in EMULATED modem at %s", emulator.path)
    inbox = app[INBOX]
    channels = app[OUTBOX].channels
    for channel in channels:
        await channel.transport.start(inbox.receiver(channel.name))
    yield
    for channel in channels:
        await channel.transport.close()
    await inbox.close()
    for emulator in app[EMULATORS]:
        await emulator.close()


async def stop_tasks(tasks: list[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Cancel and wait, bounded: on 3.11 a cancel that lands as an asyncio.timeout expires can be
    taken for the timeout and swallowed, and a loop would then go on; it is cancelled again."""
    for task in tasks:
        task.cancel()
    _, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        log.warning("task %s did not stop when cancelled: cancelling it again", task.get_name())
        task.cancel()
    if pending:
        _, still = await asyncio.wait(pending, timeout=timeout)
        for task in still:
            log.error("task %s still runs after two cancels; leaving it", task.get_name())


async def _tasks_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    tokens: frozenset[str] = app[TOKENS]
    if config.source == "built-in defaults" and not config.api.tokens:
        log.warning("demo mode: API token for this run: %s", next(iter(tokens)))
    elif not tokens:
        log.warning("no [api] tokens configured: the API answers 401 until you add one")
    if not config.backup.path:
        log.warning("no [backup] path: the database is not copied anywhere (set it to a USB stick's folder)")
    residents = app[RESIDENTS]
    announcer = app[ANNOUNCER]
    app[CLOCK_TRUST].floor = await app[STORE].call(latest_record)
    await residents.start()
    await announcer.recover()
    await app[ROUTER].start()
    tasks = [
        asyncio.create_task(app[OUTBOX].run(), name="outbox"),
        asyncio.create_task(app[ROUTER].run(), name="router"),
        asyncio.create_task(app[SCHEDULER].run(), name="scheduler"),
    ]
    yield
    await app[OUTBOX].stop(min(config.modem.send_timeout, 30.0))
    await announcer.close()
    announcer.renderer.close()
    await stop_tasks(tasks)
