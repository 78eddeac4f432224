"""The broadcasts' app keys: the service and the announcer."""

from __future__ import annotations

from aiohttp import web

from broadcasts.announcements import Announcer
from broadcasts.service import Broadcasts

BROADCASTS = web.AppKey("broadcasts", Broadcasts)
ANNOUNCER = web.AppKey("announcer", Announcer)
