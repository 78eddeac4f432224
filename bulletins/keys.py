"""The bulletins' app key."""

from __future__ import annotations

from aiohttp import web

from bulletins.service import Bulletins

BULLETINS = web.AppKey("bulletins", Bulletins)
