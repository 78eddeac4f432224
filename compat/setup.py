"""The adapters' setup: Kannel's sendsms and sms-service, RapidPro's EX channel and Jasmin's /send,
over the outbox and the inbound router."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from compat import jasmin, kannel, migrations, rapidpro
from compat.keys import COMPAT
from compat.service import Compat
from gateway.config import Config
from gateway.core.keys import CLOCK, LOOPS, NOTIFIER, STORE
from gateway.core.store import MigrationSet
from gateway.residents.keys import RESIDENTS
from gateway.sms.keys import OUTBOX, ROUTER

MIGRATIONS: list[MigrationSet] = [migrations.MIGRATIONS]


def setup(app: web.Application, config: Config) -> None:
    app[STORE].migrations.extend(MIGRATIONS)
    residents = app[RESIDENTS]
    compat = app[COMPAT] = Compat(
        app[STORE], app[OUTBOX], app[NOTIFIER], app[CLOCK], kannel=config.kannel, rapidpro=config.rapidpro,
        jasmin=config.jasmin, services=config.sms_service, policy=config.sms.encoding,
        opted_out=residents.opted_out,
    )  # fmt: skip
    residents.on_stop.append(compat.stopped)
    # Place 25: after the carrier's balance (0), the alerts' OK (10) and the residents' commands (20),
    # so HUY and help always reach the residents' service and an alert's OK its board; before the
    # numbered choice (30), DK (40) and the knowledge base's keywords (50), which would otherwise
    # answer a word a rule claims. Only messages a rule claims stop here.
    app[ROUTER].add("sms-service and RapidPro keywords", compat.claimed, place=25)
    # Place 90: what the residents' service could not answer, before the officials' inbox (100).
    app[ROUTER].add("sms-service default and RapidPro catch-all", compat.unanswered, place=90)
    app[LOOPS].add("compat receipts", compat.watch)
    app[LOOPS].add("compat callbacks", compat.deliver)
    app.cleanup_ctx.append(_http)
    kannel.setup(app)
    rapidpro.setup(app)
    jasmin.setup(app)


async def _http(app: web.Application) -> AsyncIterator[None]:
    await app[COMPAT].start()
    yield
    await app[COMPAT].stop()
