"""The station's app key."""

from __future__ import annotations

from aiohttp import web

from station.service import StationService

STATION = web.AppKey("station", StationService)
