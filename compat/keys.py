"""The adapters' app key."""

from __future__ import annotations

from aiohttp import web

from compat.service import Compat

COMPAT = web.AppKey("compat", Compat)
