"""The typed keys of everything the app factory stores on the aiohttp app."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from broadcasts.announcements import Announcer
from broadcasts.service import Broadcasts
from gateway.config import Config
from gateway.keywords.service import Residents
from gateway.notify import Notifier
from gateway.sms.emulator import EmulatedModem
from gateway.sms.inbox import Inbox
from gateway.sms.modem import Modem
from gateway.sms.outbox import Outbox
from gateway.store import Store


@dataclass
class Hardware:
    modem: Modem
    emulator: EmulatedModem | None


CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
HARDWARE = web.AppKey("hardware", Hardware)
OUTBOX = web.AppKey("outbox", Outbox)
INBOX = web.AppKey("inbox", Inbox)
NOTIFIER = web.AppKey("notifier", Notifier)
TOKENS = web.AppKey("tokens", frozenset[str])
RESIDENTS = web.AppKey("residents", Residents)
BROADCASTS = web.AppKey("broadcasts", Broadcasts)
ANNOUNCER = web.AppKey("announcer", Announcer)
