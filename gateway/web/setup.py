"""The web layer's setup: sessions and templates, accounts and their pages, API tokens, body limits."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from gateway.config import Config
from gateway.core.keys import STORE
from gateway.core.store import MigrationSet
from gateway.web import migrations, pages, views
from gateway.web.clients import LoginGate
from gateway.web.console import Console
from gateway.web.keys import BIG_BODIES, LOGINS, TOKENS, WEB

log = logging.getLogger(__name__)
MIGRATIONS: list[MigrationSet] = [migrations.MIGRATIONS]


def setup(app: web.Application, config: Config) -> None:
    app[STORE].migrations.extend(MIGRATIONS)
    app[WEB] = config.web
    app[LOGINS] = LoginGate()
    app[BIG_BODIES] = {}  # the uploads' own limits, added by the packages that take them
    tokens = set(config.api.tokens)
    if not tokens and config.source == "built-in defaults":
        # demo mode only: a token for this run, printed at start, never stored
        tokens.add(secrets.token_urlsafe(18))
    app[TOKENS] = frozenset(tokens)
    pages.setup(
        app,
        config.web,
        Console(config.commune.name, config.broadcasts.timezone),
        templates=["gateway.web", "gateway"],
        key_file=Path(config.database.path + ".session-key"),
    )
    views.setup(app)
    demo = config.source == "built-in defaults" and not config.api.tokens

    async def say_tokens(app: web.Application) -> AsyncIterator[None]:
        if demo:
            log.warning("demo mode: API token for this run: %s", min(tokens))
        elif not app[TOKENS]:
            log.warning("no [api] tokens configured: the API answers 401 until you add one")
        yield

    app.cleanup_ctx.append(say_tokens)
