"""The inbound router: each stored SMS goes down one ordered list of handlers until one takes it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from gateway.core import phone
from gateway.core.clock import Clock
from gateway.core.errors import InvalidRequest
from gateway.core.notify import Notifier
from gateway.core.store import Store
from gateway.sms import inbox as inbox_db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inbound:
    id: int
    sender: str  # as the network gave it: a number, a short code or a name
    text: str
    # the network said the sender is a name (alphanumeric), whatever it spells: "0912000001" too
    alphanumeric: bool = False

    @property
    def number(self) -> str | None:
        """The sender as a Vietnamese number we can write back to, or None (short code, name)."""
        if self.alphanumeric:
            return None
        try:
            return phone.normalise(self.sender)
        except InvalidRequest:
            return None


# True when the handler has taken the message; the next handlers do not see it
Handler = Callable[[Inbound], Awaitable[bool]]
# told the number (E.164) of a missed call the modem hung up; True when the call meant something to it
CallTaker = Callable[[str], Awaitable[bool]]


class Router:
    """Takes the ids of messages the inbox stored, in order, and routes each once. A message is
    marked routed only after its handler returned: a crash in between answers once more, never
    zero times."""

    def __init__(
        self, store: Store, notifier: Notifier, clock: Clock, handlers: Sequence[tuple[str, Handler]] = ()
    ) -> None:
        self.store = store
        self.notifier = notifier
        self.clock = clock
        self._places: list[tuple[int, str, Handler]] = [(i, name, h) for i, (name, h) in enumerate(handlers)]
        self._calls: list[tuple[int, str, CallTaker]] = []
        self._queue: asyncio.Queue[int] = asyncio.Queue()

    def add(self, name: str, handler: Handler, *, place: int) -> None:
        """A package's handler at the place the package states: a lower place sees a message first."""
        self._places.append((place, name, handler))
        self._places.sort(key=lambda p: p[0])  # stable: the same place keeps the order of setup

    def add_call(self, name: str, taker: CallTaker, *, place: int) -> None:
        """A package's use of missed calls, at the place it states (a lower place is asked first)."""
        self._calls.append((place, name, taker))
        self._calls.sort(key=lambda p: p[0])

    async def call(self, caller: str) -> None:
        """A missed call the modem hung up (free for the caller): the first taker that knows the number."""
        try:
            number = phone.normalise(caller)
        except InvalidRequest:
            log.info("missed call from %r (not a phone number) hung up", caller)
            return
        for _, name, taker in self._calls:
            if await taker(number):
                log.info("missed call from %s taken by %s", number, name)
                return
        log.info("missed call from %s hung up: nobody waits for it", number)

    @property
    def handlers(self) -> list[tuple[str, Handler]]:
        """(name, handler) in the order a message meets them."""
        return [(name, handler) for _, name, handler in self._places]

    def submit(self, inbox_id: int) -> None:
        """A whole message is stored: route it soon, without holding up the transport."""
        self._queue.put_nowait(inbox_id)

    async def start(self) -> None:
        """Messages stored but not routed before a stop are routed first."""
        for inbox_id in await self.store.call(inbox_db.unrouted):
            self.submit(inbox_id)

    async def route(self, message: Inbound) -> str | None:
        """The name of the handler that took the message, or None."""
        for name, handler in self.handlers:
            if await handler(message):
                return name
        return None

    async def run(self) -> None:
        while True:
            inbox_id = await self._queue.get()
            try:
                row = await self.store.call(inbox_db.get, inbox_id)
                if row is not None and row["routed_at"] is None:
                    taken = await self.route(Inbound(inbox_id, row["sender"], row["text"], bool(row["alphanumeric"])))
                    log.debug("inbox %d taken by %s", inbox_id, taken)
                    await self.store.call(inbox_db.mark_routed, inbox_id, self.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("failed to route inbox message %d; it stays in the inbox", inbox_id)
            finally:
                self.notifier.notify()
