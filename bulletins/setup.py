"""The warnings' setup: CAP in (posted, polled) and out, typed bulletins, their cadence job, the pages.
Above broadcasts: a warning goes out through its alerts, announcements and the outbox."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from broadcasts.keys import ANNOUNCER, BROADCASTS
from bulletins import queries, views
from bulletins.cap import MAX_CAP
from bulletins.keys import BULLETINS
from bulletins.service import Bulletins
from gateway.config import Config
from gateway.core.errors import InvalidRequest
from gateway.core.keys import CLOCK, LOOPS, NOTIFIER, STORE
from gateway.core.store import MigrationSet
from gateway.sms.keys import OUTBOX
from gateway.web.pages import add_templates
from schedules.keys import SCHEDULER

MIGRATIONS: list[MigrationSet] = [queries.MIGRATIONS]
FETCH_TIMEOUT = 30.0  # seconds for one feed or CAP document


async def fetch(url: str) -> bytes:
    """A feed's or a CAP's body, never more than a CAP may be (read in chunks, cut at the limit)."""
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(f"Chỉ đọc được nguồn http(s): {url[:100]!r}", field="feeds")
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
        if resp.status != 200:
            raise InvalidRequest(f"{url[:100]} trả lời {resp.status}", field="feeds")
        body = bytearray()
        async for chunk in resp.content.iter_chunked(65536):
            body += chunk
            if len(body) > MAX_CAP:
                raise InvalidRequest(f"{url[:100]}: quá {MAX_CAP // 1024} KB", field="feeds")
        return bytes(body)


def setup(app: web.Application, config: Config) -> None:
    app[STORE].migrations.extend(MIGRATIONS)
    service = app[BULLETINS] = Bulletins(
        app[STORE], app[OUTBOX], app[BROADCASTS], app[ANNOUNCER], app[SCHEDULER], app[NOTIFIER], app[CLOCK],
        config=config.bulletins, commune_name=config.commune.name, timezone=config.broadcasts.timezone,
    )  # fmt: skip
    app[SCHEDULER].add(*service.jobs())
    if config.bulletins.feeds:

        async def poll() -> None:
            await service.poll_forever(fetch)

        app[LOOPS].add("warning feeds", poll)
    add_templates(app, "bulletins")
    app.add_routes(views.routes)
