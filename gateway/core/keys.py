"""The app keys of the floor's own objects (aiohttp is imported here only for web.AppKey)."""

from __future__ import annotations

from aiohttp import web

from gateway.core.clock import Clock
from gateway.core.loops import Loops
from gateway.core.notify import Notifier
from gateway.core.store import Store

STORE = web.AppKey("store", Store)
NOTIFIER = web.AppKey("notifier", Notifier)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
LOOPS = web.AppKey("loops", Loops)
