"""The web layer's setup: sessions and templates, accounts and their pages, API tokens, body limits."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import hdrs, web

from gateway.config import Config
from gateway.core.keys import STORE
from gateway.core.store import MigrationSet
from gateway.web import migrations, pages, views
from gateway.web.clients import LoginGate, over_tls
from gateway.web.console import Console
from gateway.web.keys import BIG_BODIES, LOGINS, TOKENS, WEB

log = logging.getLogger(__name__)
MIGRATIONS: list[MigrationSet] = [migrations.MIGRATIONS]


async def _secure_cookies(request: web.Request, response: web.StreamResponse) -> None:
    """Behind TLS (the proxy says X-Forwarded-Proto: https) every cookie is Secure: a page fetched
    once over plain HTTP (a typed http://) never carries the session in clear."""
    cookies = response.headers.getall(hdrs.SET_COOKIE, [])
    if not cookies or not over_tls(request, request.app[WEB].proxies):
        return
    # aiohttp has written the Set-Cookie headers when this signal runs: they are rewritten
    del response.headers[hdrs.SET_COOKIE]
    for value in cookies:
        secure = any(part.strip().lower() == "secure" for part in value.split(";"))
        response.headers.add(hdrs.SET_COOKIE, value if secure else f"{value}; Secure")


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
    app.on_response_prepare.append(_secure_cookies)
    demo = config.source == "built-in defaults" and not config.api.tokens

    async def say_tokens(app: web.Application) -> AsyncIterator[None]:
        if demo:
            log.warning("demo mode: API token for this run: %s", min(tokens))
        elif not app[TOKENS]:
            log.warning("no [api] tokens configured: the API answers 401 until you add one")
        yield

    app.cleanup_ctx.append(say_tokens)
