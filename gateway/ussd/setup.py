"""The USSD menu's setup: the aggregator's callback over the residents' knowledge base."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Config
from gateway.core.keys import STORE
from gateway.residents.keys import RESIDENTS
from gateway.ussd import views
from gateway.ussd.keys import USSD
from gateway.ussd.service import Ussd


def setup(app: web.Application, config: Config) -> None:
    app[USSD] = Ussd(app[STORE], app[RESIDENTS], commune=config.commune.name, config=config.residents)
    views.setup(app)
