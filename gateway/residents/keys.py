"""The residents' service's app key."""

from __future__ import annotations

from aiohttp import web

from gateway.residents.service import Residents

RESIDENTS = web.AppKey("residents", Residents)
