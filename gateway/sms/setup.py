"""The SMS path's setup: transports and the outbox, the inbox and the router residents' messages go
through, the clock's trust, the SIMs' balance; /healthz and the messages API."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from gateway.config import Config, all_modems
from gateway.core import phone
from gateway.core.clock import system_clock
from gateway.core.errors import StoreUnavailable
from gateway.core.keys import CLOCK, LOOPS, NOTIFIER, STORE
from gateway.core.store import MigrationSet
from gateway.sms import credit, transports, views
from gateway.sms import migrations as sms_migrations
from gateway.sms.clock_trust import ClockTrust, latest_record, note_verified
from gateway.sms.credit import Credit
from gateway.sms.encoding import prepare
from gateway.sms.inbox import Inbox
from gateway.sms.keys import CLOCK_TRUST, CREDIT, INBOX, OUTBOX, ROUTER, TRANSPORT
from gateway.sms.outbox import Channel, Outbox
from gateway.sms.router import Router
from gateway.sms.transport import Transport
from schedules.keys import SCHEDULER

log = logging.getLogger(__name__)
FLOOR_EVERY = 60.0  # seconds between writes of the last verified moment of the clock
MIGRATIONS: list[MigrationSet] = [sms_migrations.MIGRATIONS, credit.MIGRATIONS]
# a transport handed in by the caller (tests, benchmarks) instead of the configured ones
GIVEN_TRANSPORT = web.AppKey("given_transport", Transport)
# the ports of the demo emulators `loa run` started, so the console says the modem is emulated
EMULATED = web.AppKey("emulated", frozenset[str])


def setup(app: web.Application, config: Config) -> None:
    store, notifier, clock, scheduler = app[STORE], app[NOTIFIER], app[CLOCK], app[SCHEDULER]
    store.migrations.extend(MIGRATIONS)

    def changed() -> None:
        """A transport came or went: the console hears, and the other senders may take its queue."""
        outbox.wake()

    async def tell(text: str) -> None:
        """The maintainers, by SMS, that the modem is back after a power cycle."""
        if config.modem.tell_when_back:
            to = [phone.normalise(n) for n in config.modem.tell_when_back]
            await outbox.enqueue(to, prepare(text, "auto"), priority="alert", source="modem:back")

    modems = all_modems(config)
    if GIVEN_TRANSPORT in app:
        channels = [Channel(modems[0].name if modems else "modem 1", app[GIVEN_TRANSPORT])]
    else:
        emulated = app[EMULATED] if EMULATED in app else frozenset[str]()
        channels = transports.build(modems, config.smpp, clock=clock, changed=changed, tell=tell, emulated=emulated)
    outbox = app[OUTBOX] = Outbox(store, channels, config.sms, notifier, clock, config.routing)
    app[TRANSPORT] = outbox.transport

    # reminders and announcements wait while the Pi's clock (no battery) is known to be wrong
    s = config.schedules
    setter = _set_system_clock if s.set_clock_from_network and clock is system_clock else None
    trust = app[CLOCK_TRUST] = ClockTrust(clock, outbox.transport, set_clock=setter, use_network=s.trust_network_time)
    scheduler.hold = trust.hold

    # the residents' and the alerts' packages add their handlers to the router at the places they state
    router = app[ROUTER] = Router(store, notifier, clock)
    inbox = app[INBOX] = Inbox(store, notifier, clock, config.sms, router.submit, scheduler)
    # each modem's SIM has its own balance (SMPP has none to ask)
    sims = {c.name: c.transport for c in outbox.channels if not c.smpp}
    app[CREDIT] = sim_credit = Credit(store, sims, outbox, notifier, clock, config.credit)
    scheduler.add(inbox.job(), *sim_credit.jobs())
    # a missed call to any modem goes to the packages that take calls (a hamlet head confirming)
    for channel in outbox.channels:
        if hasattr(channel.transport, "on_call"):
            channel.transport.on_call = router.call
    # the carrier's answer to a balance asked by SMS is read before anyone else sees it
    router.add("balance reply", sim_credit.balance_reply, place=0)

    async def before() -> None:
        trust.floor = await store.call(latest_record)
        await router.start()  # messages stored but not routed before a stop are routed first

    async def gently() -> None:
        await outbox.stop(min(config.modem.send_timeout, 30.0))

    app[LOOPS].add("outbox", outbox.run, before=before, stop=gently)
    app[LOOPS].add("router", router.run)

    async def keep_floor() -> None:
        """Write down, once a minute, the last moment a verified clock saw (the floor at the next start)."""
        written = 0.0
        while True:
            await asyncio.sleep(FLOOR_EVERY)
            if trust.verified_at > written:
                try:
                    await store.call(note_verified, trust.verified_at)
                    written = trust.verified_at
                except StoreUnavailable as e:
                    log.warning("clock floor not written: %s", e.message)
                except Exception:
                    log.exception("clock floor not written; going on")

    app[LOOPS].add("clock floor", keep_floor)

    def writable_again() -> None:
        """SMS the store refused while the disk was full wait on the SIMs: read them now, not at the
        next sweep minutes away."""
        log.info("database writable again: reading what the modems hold")
        for channel in outbox.channels:
            sweep = getattr(channel.transport, "sweep_soon", None)
            if sweep is not None:
                sweep()

    store.on_writable.append(writable_again)
    app.cleanup_ctx.append(_transports_ctx)
    views.setup(app)


def _set_system_clock(when: float) -> None:
    time.clock_settime(time.CLOCK_REALTIME, when)


async def _transports_ctx(app: web.Application) -> AsyncIterator[None]:
    inbox = app[INBOX]
    channels = app[OUTBOX].channels
    for channel in channels:
        await channel.transport.start(inbox.receiver(channel.name))
    yield
    for channel in channels:
        await channel.transport.close()
    await inbox.close()
