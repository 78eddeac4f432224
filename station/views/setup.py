"""The station's pages and API, set up once the console's sessions and templates are."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Config
from gateway.web.pages import add_templates
from station.views import routes


def setup(app: web.Application, config: Config) -> None:
    add_templates(app, "station")
    app.add_routes(routes)
