"""The residents' service's setup: its tables, its handlers in the router, the knowledge base's pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.config import Config
from gateway.core.keys import CLOCK, NOTIFIER, STORE
from gateway.core.store import MigrationSet
from gateway.residents import migrations, views
from gateway.residents.keys import RESIDENTS
from gateway.residents.service import Residents
from gateway.sms.keys import OUTBOX, ROUTER
from gateway.web.pages import add_templates

MIGRATIONS: list[MigrationSet] = [migrations.MIGRATIONS]


def setup(app: web.Application, config: Config) -> None:
    app[STORE].migrations.extend(MIGRATIONS)
    residents = app[RESIDENTS] = Residents(
        app[STORE], app[OUTBOX], app[NOTIFIER], app[CLOCK],
        config=config.residents, commune=config.commune, policy=config.sms.encoding,
    )  # fmt: skip
    # What happens to a resident's SMS: the router's first handler that takes it (the alerts'
    # "OK" comes first, at place 10, from broadcasts); the officials' inbox takes what nobody else did.
    router = app[ROUTER]
    router.add("commands", residents.commands, place=20)  # help, HUY / TC / STOP
    router.add("numbered choice", residents.choices, place=30)  # a digit answering "Nhắn số: 1 … 2 …"
    router.add("subscription", residents.subscription, place=40)  # DK <thôn>
    router.add("keywords", residents.keywords, place=50)  # a procedure's answer, or a choice between some
    router.add("officials' question", residents.question, place=100)  # nobody else could: the officials' inbox
    add_templates(app, "gateway.residents")
    app.cleanup_ctx.append(_start)
    views.setup(app)


async def _start(app: web.Application) -> AsyncIterator[None]:
    await app[RESIDENTS].start()  # the seed knowledge base and the commune's hamlets, before any message
    yield
