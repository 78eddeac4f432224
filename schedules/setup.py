"""The scheduler's setup: one scheduler every package adds its jobs to, run once all are set up."""

from __future__ import annotations

from aiohttp import web

from gateway.config import Config
from gateway.core.keys import CLOCK, LOOPS
from schedules.keys import SCHEDULER
from schedules.scheduler import Scheduler


def setup(app: web.Application, config: Config) -> None:
    scheduler = app[SCHEDULER] = Scheduler(app[CLOCK])
    app[LOOPS].add("scheduler", scheduler.run)
