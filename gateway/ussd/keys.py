"""The USSD menu's app key."""

from __future__ import annotations

from aiohttp import web

from gateway.ussd.service import Ussd

USSD = web.AppKey("ussd", Ussd)
