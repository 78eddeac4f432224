"""The web layer's app keys: its config, the console's commune, API tokens and the paths with bigger bodies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.web.clients import LoginGate
from gateway.web.config import WebConfig
from gateway.web.console import Console

WEB = web.AppKey("web", WebConfig)
CONSOLE = web.AppKey("console", Console)
TOKENS = web.AppKey("tokens", frozenset[str])
BIG_BODIES = web.AppKey("big_bodies", dict[str, int])  # path → its own limit (clip and CSV uploads)
# a phone book's names for numbers (set by the package that keeps the contacts): pages show who, not only a number
Names = Callable[[list[str]], Awaitable[dict[str, str]]]
NAMES: web.AppKey[Names] = web.AppKey("names")
LOGINS = web.AppKey("logins", LoginGate)  # logins in flight per address, refusals counted
