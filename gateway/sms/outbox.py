"""The outbox's senders: one task per transport, each claiming from the queue (gateway.sms.queue) what
the routing rule (gateway.sms.routing) gives it, with retries; parts and receipts recorded in groups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.core import phone
from gateway.core.clock import Clock
from gateway.core.errors import InvalidRequest, LimitReached, ModemError, ModemUnavailable, StoreUnavailable
from gateway.core.notify import Notifier
from gateway.core.store import GroupWriter, Store
from gateway.sms import queue
from gateway.sms.config import RoutingConfig, SmsConfig
from gateway.sms.encoding import Prepared, split_gsm7, split_ucs2
from gateway.sms.pdu import build_submit
from gateway.sms.routing import Link, Routing, Rule
from gateway.sms.transport import Transport

log = logging.getLogger(__name__)
# The modem lost this many times while sending one message counts as one failed try of it.
LOSSES_PER_TRY = 3


@dataclass
class Channel:
    """One transport the outbox sends through, with what routing needs to know of it."""

    name: str
    transport: Transport
    smpp: bool = False
    carrier: str = ""
    per_minute: float = 0.0  # parts a minute at most (0 = as fast as it answers)
    window: int = 1  # messages in hand at once: 1 for a modem (one AT+CMGS at a time)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    down_since: float | None = None
    _next_at: float = 0.0

    async def pace(self) -> None:
        if self.per_minute <= 0:
            return
        now = asyncio.get_running_loop().time()
        start = max(now, self._next_at)
        self._next_at = start + 60.0 / self.per_minute
        if start > now:
            await asyncio.sleep(start - now)


class Outbox:
    """Takes messages from SQLite in priority order and hands their parts to the transports: each
    has its own sender, which claims what the routing policy gives it (a modem one message at a
    time, SMPP a window of them); parts and receipts are written in groups (one commit a burst)."""

    def __init__(
        self,
        store: Store,
        transports: Transport | list[Channel],
        config: SmsConfig,
        notifier: Notifier,
        clock: Clock,
        routing: RoutingConfig | None = None,
    ) -> None:
        self.store = store
        self.reply_budget_spent: float | None = None  # when an automatic reply last found the budget spent
        self.channels = transports if isinstance(transports, list) else [Channel("modem 1", transports)]
        self.config = config
        self.routing = routing or RoutingConfig()
        self.notifier = notifier
        self.clock = clock
        self._losses: dict[int, int] = {}
        self._stopping = False
        self._inflight: set[int] = set()
        self._sends: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        # a modem's part is recorded at once (its next part waits for it); SMPP's, many in flight, a
        # few milliseconds later with the others that came meanwhile: one commit for many
        self._records: GroupWriter[tuple[int, int, int | str, bool, float, str | None]] = GroupWriter(
            store, queue.record_parts
        )
        self._window_records: GroupWriter[tuple[int, int, int | str, bool, float, str | None]] = GroupWriter(
            store, queue.record_parts, gather=0.01
        )

    @property
    def transport(self) -> Transport:
        """The first transport (the first modem): USSD, credit and the network's clock go through it."""
        return self.channels[0].transport

    async def enqueue(self, recipients: list[str], prepared: Prepared, *, priority: str, source: str) -> list[int]:
        ids = await self.store.call(
            queue.enqueue, recipients, prepared, queue.PRIORITIES[priority], source, self.clock()
        )
        self.wake()
        return ids

    async def auto_reply(self, sender: str, prepared: Prepared, kind: str, daily_cap: int) -> int | None:
        """What the gateway answers by itself: only to a Vietnamese mobile number (never a short code,
        a name, a foreign or a 1900 number: it costs and reaches no one), at most `daily_cap` a day."""
        try:
            number = phone.normalise(sender)
        except InvalidRequest:
            log.info("no automatic reply to %r (not a Vietnamese mobile number)", sender)
            return None
        try:
            message_id = await self.store.call(
                queue.enqueue_reply, number, prepared, f"auto:{kind}", self.clock(), daily_cap,
                self.config.daily_auto_replies,
            )  # fmt: skip
        except LimitReached:
            if self.reply_budget_spent is None:
                log.error(
                    "the commune's %d automatic replies of 24 hours are spent: none sent until the count falls",
                    self.config.daily_auto_replies,
                )
            self.reply_budget_spent = self.clock()
            return None
        if message_id is None:
            log.warning("daily reply cap reached for %s: %s not sent", number, kind)
        else:
            self.wake()
        return message_id

    async def cancel(self, ids: list[int], source: str | None, by: str) -> int:
        """Waiting messages cancelled (these ids, or a batch): how many were still waiting."""
        return await self.store.call(queue.cancel, ids, source, self.clock(), by)

    async def resend(self, message_id: int) -> int:
        """A failed or cancelled message queued again: the new message's id."""
        new = await self.store.call(queue.resend, message_id, self.clock())
        self.wake()
        return new

    def reply_budget_problem(self) -> str | None:
        """What the dashboard tells the officials while the commune's automatic replies are spent."""
        spent = self.reply_budget_spent
        if spent is None or self.clock() - spent > 3600:
            return None
        return (
            f"Đã dùng hết {self.config.daily_auto_replies} tin trả lời tự động của xã trong 24 giờ ([sms]"
            " daily_auto_replies): dân nhắn tới vẫn được lưu ở Dân hỏi nhưng không được trả lời tự động"
        )

    async def get(self, message_id: int) -> dict[str, Any]:
        return await self.store.call(queue.get, message_id)

    async def counts(self) -> dict[str, int]:
        return await self.store.call(queue.counts)

    async def sent_since(self, since: float) -> int:
        return await self.store.call(queue.sent_since, since)

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]:
        return await self.store.call(queue.recent_failures, limit)

    async def transports(self, since: float) -> list[dict[str, Any]]:
        """Each transport as the console and /healthz show it: its state and what it sent since `since`."""
        found = await self.store.call(queue.per_transport, since)
        return [
            {
                "name": c.name, "smpp": c.smpp, "carrier": c.carrier, "info": c.transport.info,
                "sent": found.get(c.name, {}).get("sent", 0), "delivered": found.get(c.name, {}).get("delivered", 0),
                "holding": found.get(c.name, {}).get("holding", 0),
            }
            for c in self.channels
        ]  # fmt: skip

    async def stop(self, timeout: float) -> None:
        """A clean stop: the parts with the transports now are answered and recorded (waiting at most
        `timeout`), and no other is started; the rest of the queue waits for the next start."""
        self._stopping = True
        self.wake()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        if not self._idle.is_set():
            log.warning("stopping with a part still with a transport: it may go out again after the restart")

    def wake(self) -> None:
        """Something was queued (here, or by another service's store function), or a transport came
        or went: every sender looks again."""
        for channel in self.channels:
            channel.wake.set()
        self.notifier.notify()

    def routing_now(self) -> Routing:
        """The [routing] policy over the transports as they stand now (each one's down_since kept up to date)."""
        now = self.clock()
        for c in self.channels:
            if c.transport.info.connected:
                c.down_since = None
            elif c.down_since is None:
                c.down_since = now
        links = tuple(Link(c.name, c.smpp, c.carrier, c.down_since) for c in self.channels)
        return Routing(self.routing, links, now)

    def rule(self, channel: Channel) -> Rule:
        """What this transport may take from the queue now."""
        return self.routing_now().rule(channel.name)

    async def run(self) -> None:
        """Every transport's sender, until cancelled; then the sends they started are cancelled too."""
        try:
            async with asyncio.TaskGroup() as group:
                for channel in self.channels:
                    group.create_task(self._run_channel(channel), name=f"outbox:{channel.name}")
            # the senders returned (a stop): the parts with the transports are answered and recorded
            # first (stop() bounds the wait; a cancel of this task cancels them below)
            if self._sends:
                await asyncio.wait(list(self._sends))
        finally:
            sends = list(self._sends)
            for task in sends:
                task.cancel()
            if sends:
                await asyncio.wait(sends, timeout=5.0)

    async def _run_channel(self, ch: Channel) -> None:
        free = ch.window
        freed = asyncio.Event()

        def finished(message_id: int) -> Callable[[asyncio.Task[None]], None]:
            def done(task: asyncio.Task[None]) -> None:
                nonlocal free
                free += 1
                self._sends.discard(task)
                self._inflight.discard(message_id)
                if not self._inflight:
                    self._idle.set()
                freed.set()

            return done

        while True:
            try:
                await ch.transport.wait_connected()
                if self._stopping:
                    return
                # a window is refilled half at a time: one claim (one query) per many messages
                if free == 0 or (ch.window > 1 and ch.window - free > 0 and free < ch.window // 2):
                    freed.clear()
                    await freed.wait()
                    continue
                ch.wake.clear()
                rule = self.rule(ch)
                claimed = await self.store.call(queue.claim, ch.name, free, self.clock(), rule, tuple(self._inflight))
                if not claimed.rows:
                    # woken by a new message or a transport that came or went; at most 5 s blind
                    wait = 5.0 if claimed.wait is None else min(max(claimed.wait, 0.0), 5.0)
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait):
                            await ch.wake.wait()
                    continue
                for row in claimed.rows:
                    message_id = int(row["id"])
                    free -= 1
                    self._inflight.add(message_id)
                    self._idle.clear()
                    task = asyncio.create_task(self._send(ch, row), name=f"send:{message_id}")
                    self._sends.add(task)
                    task.add_done_callback(finished(message_id))
                if ch.window == 1:
                    # a modem: this message goes out before the next is claimed
                    freed.clear()
                    await freed.wait()
                    if self.config.send_interval:
                        await asyncio.sleep(self.config.send_interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sender %s failed; going on", ch.name)
                await asyncio.sleep(1.0)

    async def _send(self, ch: Channel, row: dict[str, Any]) -> None:
        message_id = int(row["id"])
        try:
            await self._send_parts(ch, row)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("message %d: sending through %s failed; it waits for another try", message_id, ch.name)
            with contextlib.suppress(Exception):
                await self.store.call(queue.release, [message_id])

    async def _send_parts(self, ch: Channel, row: dict[str, Any]) -> None:
        message_id = int(row["id"])
        done = set(row["done"])
        body = row["body"]
        parts = split_gsm7(body) if row["encoding"] == "gsm7" else split_ucs2(body)
        prepared = Prepared(row["text"], body, row["encoding"], tuple(parts))
        pdus = build_submit(
            row["recipient"],
            prepared,
            concat_ref=int(row["concat_ref"] or message_id),
            status_report=self.config.status_reports,
        )
        if len(done) >= len(pdus):
            await self.store.call(queue.finish_if_sent, message_id, len(pdus), self.clock())
            self.notifier.notify()
            return
        try:
            for number, pdu in enumerate(pdus, start=1):
                if number in done:
                    continue
                if self._stopping:
                    return  # the message stays 'sending'; the next start resumes at this part
                await ch.pace()
                reference = await ch.transport.send_pdu(pdu)
                await self._record(ch, message_id, number, reference, number == len(pdus))
        except ModemUnavailable as e:
            # usually not this message's fault: it goes back to the queue, untouched, for this
            # transport when it is back or another one; but a PDU a modem hangs on every time must
            # not hold the queue for ever
            losses = self._losses[message_id] = self._losses.get(message_id, 0) + 1
            log.warning("message %d waits for a transport (%s, %d): %s", message_id, ch.name, losses, e)
            if losses >= LOSSES_PER_TRY:
                del self._losses[message_id]
                await self._count_try(row, e)
            else:
                await self.store.call(queue.release, [message_id])
            self.wake()
        except ModemError as e:
            await self._count_try(row, e)
        else:
            self._losses.pop(message_id, None)
        finally:
            self.notifier.notify()

    async def _record(self, ch: Channel, message_id: int, part: int, reference: int | str, last: bool) -> None:
        """The network has the part: record it before this message's next part is sent. While the
        store cannot write (a full disk) sending stops here, and goes on once the write succeeds."""
        delay = 1.0
        while True:
            try:
                records = self._window_records if ch.window > 1 else self._records
                await records.write((message_id, part, reference, last, self.clock(), ch.name))
                return
            except StoreUnavailable as e:
                log.error("message %d part %d sent but not recorded; sending stops until it is: %s",
                          message_id, part, e.message)  # fmt: skip
                self.notifier.notify()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _count_try(self, row: dict[str, Any], e: ModemError) -> None:
        message_id = int(row["id"])
        tries = int(row["tries"]) + 1
        if not e.transient or tries >= self.config.max_tries:
            log.warning("message %d failed after %d tries: %s", message_id, tries, e)
            await self.store.call(queue.fail, message_id, e.message, self.clock())
        else:
            delay = min(self.config.retry_base * 2 ** (tries - 1), self.config.retry_max)
            log.info("message %d: %s; retry %d in %.1f s", message_id, e, tries, delay)
            await self.store.call(queue.retry_later, message_id, e.message, self.clock() + delay)
