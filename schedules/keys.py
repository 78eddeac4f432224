"""The scheduler's app key (aiohttp only for web.AppKey)."""

from __future__ import annotations

from aiohttp import web

from schedules.scheduler import Scheduler

SCHEDULER = web.AppKey("scheduler", Scheduler)
