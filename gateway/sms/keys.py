"""The SMS path's app keys: the outbox and its transports, the inbox and router, the clock's trust, the balance."""

from __future__ import annotations

from aiohttp import web

from gateway.sms.clock_trust import ClockTrust
from gateway.sms.credit import Credit
from gateway.sms.inbox import Inbox
from gateway.sms.outbox import Outbox
from gateway.sms.router import Router
from gateway.sms.transport import Transport

OUTBOX = web.AppKey("outbox", Outbox)
TRANSPORT = web.AppKey("transport", Transport)
INBOX = web.AppKey("inbox", Inbox)
ROUTER = web.AppKey("router", Router)
CLOCK_TRUST = web.AppKey("clock_trust", ClockTrust)
CREDIT = web.AppKey("credit", Credit)
