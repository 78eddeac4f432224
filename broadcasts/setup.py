"""The broadcasts' setup: contacts, reminders, alerts (whose "OK" the router sees first) and the
announcements on the commune's speakers, whose relay is switched off before anything else starts."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web

from audio.player import Player, Station, make_lines, make_player, make_relay
from audio.render import Renderer
from broadcasts import migrations, views
from broadcasts.announcements import Announcer
from broadcasts.keys import ANNOUNCER, BROADCASTS
from broadcasts.service import Broadcasts
from broadcasts.views import MAX_CLIP
from gateway.config import Config
from gateway.core.keys import CLOCK, LOOPS, NOTIFIER, STORE
from gateway.core.store import MigrationSet
from gateway.core.text import fold
from gateway.sms.keys import OUTBOX, ROUTER
from gateway.web.pages import add_templates
from schedules.keys import SCHEDULER

log = logging.getLogger(__name__)
MIGRATIONS: list[MigrationSet] = [migrations.MIGRATIONS]
MAX_BODY = MAX_CLIP + 65536  # the biggest body any path takes: a clip with the rest of its form
# a sound output handed in by the caller (tests, benchmarks) instead of the configured player
GIVEN_PLAYER = web.AppKey("given_player", Player)


def setup(app: web.Application, config: Config) -> None:
    store, notifier, clock, scheduler = app[STORE], app[NOTIFIER], app[CLOCK], app[SCHEDULER]
    store.migrations.extend(MIGRATIONS)
    p = config.player
    # each line under the commune's own spelling of its hamlet ("Na Phin=22" is Nà Phìn's)
    spelling = {fold(h).lower(): h for h in config.commune.hamlets}
    lines = {spelling.get(fold(name).lower(), name): relay for name, relay in make_lines(p).items()}
    player = app[GIVEN_PLAYER] if GIVEN_PLAYER in app else make_player(p)
    station = Station(player, make_relay(p), p.warmup, p.tail, lines=lines)
    announcer = app[ANNOUNCER] = Announcer(
        store, Renderer(config.audio), station, scheduler, notifier, clock,
        timezone=config.broadcasts.timezone, repeat=config.audio.repeat, grace=config.schedules.grace,
    )  # fmt: skip
    broadcasts = app[BROADCASTS] = Broadcasts(
        store, app[OUTBOX], announcer, scheduler, notifier, clock, config=config.broadcasts,
        policy=config.sms.encoding, reply_cap=config.residents.daily_reply_cap,
    )  # fmt: skip
    app[ROUTER].add("alert acknowledgement", broadcasts.acknowledge, place=10)  # OK / OK <id> from someone alerted
    app[ROUTER].add_call("alert acknowledgement", broadcasts.acknowledge_call, place=10)  # a missed call, as OK
    scheduler.add(*broadcasts.jobs(), *announcer.jobs())

    async def stop_playing() -> None:
        await announcer.close()
        announcer.renderer.close()

    app[LOOPS].on_stop(stop_playing)
    # before anything else (the store, the modems): the relay off, whatever a power cut left it in
    app.cleanup_ctx.insert(0, _speakers_ctx)
    app.cleanup_ctx.append(_recover_ctx)
    add_templates(app, "broadcasts")
    views.setup(app, broadcasts)


async def _speakers_ctx(app: web.Application) -> AsyncIterator[None]:
    station = app[ANNOUNCER].station
    try:
        await station.reset()
        log.info("amplifier relay switched off at start")
    except Exception:
        log.exception("could not switch the amplifier relay off at start")
    yield
    await station.reset()


async def _recover_ctx(app: web.Application) -> AsyncIterator[None]:
    await app[ANNOUNCER].recover()  # what a power cut interrupted: played late within grace, else missed
    yield
