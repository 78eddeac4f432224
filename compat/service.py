"""The adapters' service: messages accepted into the outbox (opt-outs, rate, daily ceiling), the
receipts their systems asked for, residents' messages a rule claims, and the loop that makes every
owed HTTP call at least once, with backoff, across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from compat import calls
from compat import queries as q
from compat.config import JasminConfig, KannelConfig, RapidProConfig, SmsServiceConfig
from gateway.core.clock import Clock
from gateway.core.errors import LimitReached
from gateway.core.notify import Notifier
from gateway.core.store import Store
from gateway.sms import published
from gateway.sms.encoding import Policy, Prepared, prepare
from gateway.sms.outbox import Outbox
from gateway.sms.router import Inbound

log = logging.getLogger(__name__)
MAX_ANSWER = 64 * 1024  # an sms-service's answer beyond this is cut (an SMS reply is far shorter)
MAX_TRIES = 15  # with the backoff below, about a day and a half before a call is given up
BATCH = 500  # messages whose status is asked in one query
REPORTS_WITHIN = 3 * 86400.0  # a delivery report later than this is not waited for (the network keeps SMS 1–3 days)
KEEP_CALLS = 7 * 86400.0  # made calls are kept this long (to look at), then pruned
SPACING = 0.5  # at most two looks a second at the statuses, however often the outbox changes


class Rate:
    """At most `per_minute` in any sliding minute (0 = no limit); in memory, like Kannel's throttling."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._times: deque[float] = deque()

    def take(self) -> bool:
        if self.per_minute <= 0:
            return True
        now = time.monotonic()
        while self._times and now - self._times[0] >= 60.0:
            self._times.popleft()
        if len(self._times) >= self.per_minute:
            return False
        self._times.append(now)
        return True


@dataclass(frozen=True)
class Accepted:
    ids: list[int]
    skipped: list[str]  # numbers that sent HUY
    held: bool  # no transport is up now: queued for later (Kannel's "3: Queued for later delivery")


class Compat:
    def __init__(
        self, store: Store, outbox: Outbox, notifier: Notifier, clock: Clock, *, kannel: KannelConfig,
        rapidpro: RapidProConfig, jasmin: JasminConfig, services: tuple[SmsServiceConfig, ...], policy: Policy,
        opted_out: Callable[[str], Awaitable[bool]],
    ) -> None:  # fmt: skip
        self.store = store
        self.outbox = outbox
        self.notifier = notifier
        self.clock = clock
        self.kannel = kannel
        self.rapidpro = rapidpro
        self.jasmin = jasmin
        self.services = services
        self.policy = policy
        self.opted_out = opted_out
        self.rates = {"kannel": Rate(kannel.per_minute), "rapidpro": Rate(rapidpro.per_minute),
                      "jasmin": Rate(jasmin.per_minute)}  # fmt: skip
        self.ceilings = {"kannel": kannel.daily_segments, "rapidpro": rapidpro.daily_segments,
                         "jasmin": jasmin.daily_segments}  # fmt: skip
        self.backoff = 10.0  # seconds before the first retry; doubled each time, at most an hour
        self.reply_cap = 10  # sms-service answers to one number a day
        self._wake = asyncio.Event()
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()

    def wake(self) -> None:
        """New calls are owed: the callback loop looks now."""
        self._wake.set()

    # ---- messages in ----

    async def accept(
        self, recipients: list[tuple[str, str]], prepared: Prepared, priority: str, receipt: q.Receipt,
        not_before: float = 0.0,
    ) -> Accepted:  # fmt: skip
        """(as given, normalised) recipients into the outbox, but those who sent HUY (unless an alert)."""
        if not self.rates[receipt.system].take():
            raise LimitReached("Quá nhiều yêu cầu trong một phút (rate)", kind="rate")
        keep = [
            (given, number) for given, number in recipients if priority == "alert" or not await self.opted_out(number)
        ]
        skipped = [number for given, number in recipients if (given, number) not in keep]
        ids: list[int] = []
        if keep:
            ids = await self.store.call(
                q.accept, keep, prepared, priority, receipt, self.clock(), not_before, self.ceilings[receipt.system]
            )
            self.outbox.wake()
            self.notifier.notify()
        held = not any(c.transport.info.connected for c in self.outbox.channels)
        return Accepted(ids, skipped, held)

    # ---- receipts ----

    async def watch(self) -> None:
        """Tell each system what became of the messages it gave: on every change, and now and then."""
        while True:
            try:
                await self.check_statuses()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("compat: checking messages' statuses failed; trying again")
            await asyncio.sleep(SPACING)  # a burst of sends is looked at once, not once per part
            await self._next_change(5.0)

    async def check_statuses(self) -> int:
        """Owe the callbacks for every status change since the last look; how many changed."""
        now = self.clock()
        rows = await self.store.call(q.open_messages, now - REPORTS_WITHIN)
        states: dict[int, dict[str, Any]] = {}
        for start in range(0, len(rows), BATCH):
            ids = [r["outbox_id"] for r in rows[start : start + BATCH]]
            states |= await self.store.call(published.states, ids)
        changed = 0
        for row in rows:
            state = states.get(row["outbox_id"])
            status = "failed" if state is None else state["status"]
            if status == row["last_status"]:
                continue
            owed = []
            reference = "" if state is None or state["reference"] is None else str(state["reference"])
            error = "" if state is None else state["last_error"] or ""
            for event in calls.events(row["last_status"], status, state is not None and state["sent_at"] is not None):
                call = self._receipt(row, event, now, reference, error)
                if call is not None:
                    owed.append(call)
            await self.store.call(q.owe, owed, row["outbox_id"], status, now)
            changed += 1
        if changed:
            self._wake.set()
        return changed

    def _receipt(self, row: dict[str, Any], event: str, now: float, reference: str, error: str) -> calls.Call | None:
        if row["system"] == "kannel":
            return calls.kannel_dlr(row, event, now, reference, error)
        if row["system"] == "jasmin":
            return calls.jasmin_dlr(row, event, now, reference)
        return calls.rapidpro_status(self.rapidpro, row, event) if row["external_id"] else None

    async def _next_change(self, timeout: float) -> None:
        first = True

        async def changed() -> bool:
            nonlocal first
            seen, first = not first, False
            return seen

        await _bounded(self.notifier.wait_until(changed), timeout)

    # ---- residents' messages ----

    async def claimed(self, msg: Inbound) -> bool:
        """Router place 25: a message whose first word an sms-service rule or RapidPro's keywords claim."""
        return await self._forward(msg, catch_all=False)

    async def unanswered(self, msg: Inbound) -> bool:
        """Router place 90: what no one answered, to the `default` sms-service or RapidPro's catch-all."""
        return await self._forward(msg, catch_all=True)

    async def _forward(self, msg: Inbound, *, catch_all: bool) -> bool:
        now = self.clock()
        sender = msg.number or msg.sender
        owed: list[calls.Call] = []
        for i, rule in enumerate(self.services):
            default = rule.keyword.casefold() == "default" and not rule.keyword_regex
            if default != catch_all:
                continue
            if default or calls.rule_matches(rule, sender, msg.text):
                owed.append(calls.sms_service(rule, i, sender, self.kannel.own_number, msg.text, now, msg.id))
                break
        if not owed and self.rapidpro.channel_uuid:
            first = (msg.text.split() or [""])[0].casefold()
            wanted = self.rapidpro.catch_all if catch_all else first in {k.casefold() for k in self.rapidpro.keywords}
            if wanted:
                owed.append(calls.rapidpro_receive(self.rapidpro, sender, msg.text, now))
        if not owed:
            return False
        await self.store.call(q.owe, owed, None, "", now)
        self._wake.set()
        return True

    async def stopped(self, number: str) -> None:
        """A resident sent HUY: RapidPro is told, so its flows stop too."""
        if self.rapidpro.channel_uuid:
            await self.store.call(q.owe, [calls.rapidpro_stopped(self.rapidpro, number)], None, "", self.clock())
            self._wake.set()

    # ---- the calls owed ----

    async def deliver(self) -> None:
        """Make every owed call when due; a failed one is tried again later, never dropped silently."""
        while True:
            timeout = 30.0
            try:
                rows = await self.store.call(q.due, self.clock(), 16)
                if rows:
                    # one after another: a message's "sent" is told before its "delivered"
                    for row in rows:
                        await self._call(row)
                    continue
                await self.store.call(q.prune, self.clock() - KEEP_CALLS)
                upcoming = await self.store.call(q.next_due)
                if upcoming is not None:
                    timeout = min(30.0, max(0.01, upcoming - self.clock()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("compat: the callback loop failed; going on")
            self._wake.clear()
            await _bounded(self._wake.wait(), timeout)

    async def _call(self, row: dict[str, Any]) -> None:
        assert self.http is not None
        try:
            headers = json.loads(row["headers"] or "{}")
            async with self.http.request(row["method"], row["url"], data=row["body"] or None, headers=headers) as resp:
                answer = await resp.content.read(MAX_ANSWER)
                text = answer.decode(resp.charset or "utf-8", errors="replace")
                if not 200 <= resp.status < 300:
                    raise _Refused(f"HTTP {resp.status}: {text[:200]}")
                if row["expect"] and row["expect"] not in text:
                    raise _Refused(f"answer without {row['expect']!r}: {text[:200]}")
        except (aiohttp.ClientError, TimeoutError, _Refused, ValueError) as e:
            give_up = row["tries"] + 1 >= MAX_TRIES
            wait = min(3600.0, self.backoff * 2 ** row["tries"])
            # the address without its query: that may hold a resident's text or the receiver's token
            where = urlsplit(row["url"])
            log.log(logging.ERROR if give_up else logging.INFO, "compat: %s %s://%s%s failed (%s)%s", row["method"],
                    where.scheme, where.netloc, where.path[:100], e,
                    "; given up" if give_up else f"; again in {wait:.0f} s")  # fmt: skip
            await self.store.call(q.retry, row["id"], self.clock() + wait, str(e) or type(e).__name__, give_up,
                                  self.clock())  # fmt: skip
            return
        if row["reply_to"]:
            # answered before it is marked done: a crash in between answers twice, never zero times
            await self._reply(row, text)
        await self.store.call(q.done, row["id"], self.clock())

    async def _reply(self, row: dict[str, Any], text: str) -> None:
        """An sms-service's answer, sent back to the resident in at most the rule's max-messages parts."""
        rule = self.services[row["reply_rule"]] if 0 <= row["reply_rule"] < len(self.services) else None
        text = text.strip()
        if rule is None or not text or rule.max_messages < 1:
            return
        prepared = prepare(text, self.policy)
        while prepared.segments > rule.max_messages and len(text) > 1:
            text = text[: max(1, len(text) - max(1, len(text) // 10))]
            prepared = prepare(text, self.policy)
        await self.outbox.auto_reply(row["reply_to"], prepared, "kannel", self.reply_cap)


async def _bounded(waiting: Coroutine[Any, Any, Any], timeout: float) -> None:
    """Wait at most `timeout`; a cancel that lands as the wait ends, by timeout or by the change it
    waited for, is a cancel (3.11's wait_for can swallow it, and the loop would go on: see
    gateway.core.loops.stop_tasks)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(waiting, timeout)
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Refused(Exception):
    """The other system answered, but not with a success."""
