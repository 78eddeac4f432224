"""The outbox: messages queued in SQLite, one sender task per transport, retries and delivery reports."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from gateway.core import phone
from gateway.core.clock import Clock
from gateway.core.errors import InvalidRequest, ModemError, ModemUnavailable, NotFound, StoreUnavailable
from gateway.core.notify import Notifier
from gateway.core.priority import SMS, Priority
from gateway.core.store import GroupWriter, Store, transaction
from gateway.sms.config import RoutingConfig, SmsConfig
from gateway.sms.encoding import Prepared, split_gsm7, split_ucs2
from gateway.sms.pdu import StatusReport, build_submit
from gateway.sms.transport import Transport

log = logging.getLogger(__name__)
DAY = 86400.0

# the names the API uses; the scale is the one audio uses too (gateway.core.priority)
PRIORITIES = SMS
PRIORITY_NAMES = {int(v): k for k, v in PRIORITIES.items()}
STATUSES = ("queued", "sending", "sent", "delivered", "failed")
# The modem lost this many times while sending one message counts as one failed try of it.
LOSSES_PER_TRY = 3


@dataclass(frozen=True)
class Rule:
    """What one transport may take from the queue now (the routing policy, worked out by the Outbox)."""

    down: tuple[str, ...] = ()  # transports not connected: what they hold or are routed may move
    names: tuple[str, ...] = ()  # every transport: a route to one not configured (any more) is void
    priorities: tuple[int, ...] = tuple(int(p) for p in SMS.values())
    any_route: bool = False  # replies may leave through any transport
    elsewhere: tuple[str, ...] = ()  # carriers another connected modem's SIM has and this one's not
    inflight: tuple[int, ...] = ()  # messages another sender of this process has in hand


@dataclass(frozen=True)
class Claimed:
    rows: list[dict[str, Any]]  # each with "done": its parts already sent
    wait: float | None  # seconds until the next retry falls due, None when nothing waits


# ---- store functions: each runs on the store thread, each write is one transaction ------------


def enqueue(
    db: sqlite_utils.Database,
    recipients: list[str],
    prepared: Prepared,
    priority: int,
    source: str,
    now: float,
) -> list[int]:
    return enqueue_many(db, [(to, prepared, 0.0) for to in recipients], priority, source, now)


def enqueue_many(
    db: sqlite_utils.Database,
    messages: list[tuple[str, Prepared, float]],
    priority: int,
    source: str,
    now: float,
) -> list[int]:
    """Queue (recipient, text, not before) triples in one transaction: all of them or none."""
    with transaction(db):
        first = db.execute("select coalesce(max(id), 0) + 1 from outbox").fetchone()[0]
        db.conn.executemany(
            "insert into outbox (id, recipient, text, body, encoding, segments, priority, status, tries,"
            " next_attempt_at, source, created_at, concat_ref, carrier) values (?,?,?,?,?,?,?,'queued',0,?,?,?,?,?)",
            (
                (
                    first + i,
                    to,
                    p.original,
                    p.body,
                    p.encoding,
                    p.segments,
                    priority,
                    not_before,
                    source,
                    now,
                    (first + i) % 256,
                    phone.carrier(to),
                )
                for i, (to, p, not_before) in enumerate(messages)
            ),
        )
    return list(range(first, first + len(messages)))


def enqueue_reply(
    db: sqlite_utils.Database, number: str, prepared: Prepared, source: str, now: float, cap: int
) -> int | None:
    """An automatic reply, unless this number already had `cap` of them in 24 hours (counted and
    queued in one transaction, so two messages handled at once cannot both slip under the cap)."""
    with transaction(db):
        sent = db.execute(
            "select count(*) from outbox where recipient=? and source like 'auto:%' and created_at>=?",
            [number, now - DAY],
        ).fetchone()[0]
        if sent >= cap:
            return None
        (message_id,) = enqueue(db, [number], prepared, PRIORITIES["reply"], source, now)
        # through the transport the question came in on (the Outbox's rule says whether that binds)
        via = db.execute(
            "select via from inbox where sender in (?, ?) order by id desc limit 1", [number, number.lstrip("+")]
        ).fetchone()
        if via and via[0]:
            db.execute("update outbox set route=? where id=?", [via[0], message_id])
    return message_id


def claim(db: sqlite_utils.Database, me: str, limit: int, now: float, rule: Rule) -> Claimed:
    """Up to `limit` due messages `me` may send under `rule`, now in its hands ('sending', holder);
    'sending' first: after a crash or a dead transport those resume before anything new."""
    params = {
        "now": now, "me": me, "limit": limit, "down": json.dumps(rule.down), "names": json.dumps(rule.names),
        "inflight": json.dumps(rule.inflight), "priorities": json.dumps(rule.priorities),
        "any_route": int(rule.any_route), "elsewhere": json.dumps(rule.elsewhere),
    }  # fmt: skip
    allowed = (
        " and next_attempt_at <= :now"
        " and (holder is null or holder = :me or holder in (select value from json_each(:down)))"
        " and id not in (select value from json_each(:inflight))"
        " and (route is null or :any_route or route = :me or route in (select value from json_each(:down))"
        "      or route not in (select value from json_each(:names)))"
        " and priority in (select value from json_each(:priorities))"
        " and (priority = 0 or carrier is null or carrier not in (select value from json_each(:elsewhere)))"
    )
    # two walks of the (status, priority, id) index, each stopping at `limit`: not a sort of the queue
    rows = list(db.query(f"select * from outbox where status = 'sending' {allowed} order by priority, id limit :limit",
                         params))  # fmt: skip
    if len(rows) < limit:
        params["limit"] = limit - len(rows)
        rows += db.query(f"select * from outbox where status = 'queued' {allowed} order by priority, id limit :limit",
                         params)  # fmt: skip
    if not rows:
        later = db.execute(
            "select min(next_attempt_at) from outbox where status in ('queued','sending') and next_attempt_at > ?",
            [now],
        ).fetchone()[0]
        return Claimed([], None if later is None else later - now)
    ids = [r["id"] for r in rows]
    with transaction(db):
        db.conn.executemany("update outbox set status='sending', holder=? where id=?", [(me, i) for i in ids])
    done: dict[int, list[int]] = {}
    for message_id, part in db.execute(
        "select message_id, part from outbox_parts where message_id in (select value from json_each(?))",
        [json.dumps(ids)],
    ):
        done.setdefault(message_id, []).append(part)
    for row in rows:
        row["status"], row["holder"], row["done"] = "sending", me, sorted(done.get(row["id"], []))
    return Claimed(rows, 0.0)


def release(db: sqlite_utils.Database, message_ids: list[int]) -> None:
    """Out of a transport's hands (it went away): any transport may take them now."""
    with transaction(db):
        db.conn.executemany("update outbox set holder=null where id=?", [(i,) for i in message_ids])


def record_part(
    db: sqlite_utils.Database,
    message_id: int,
    part: int,
    reference: int | str,
    last: bool,
    now: float,
    transport: str | None = None,
) -> None:
    """A part the network took: a modem's reference (an int), or an SMSC's message id (a string)."""
    with transaction(db):
        db.execute(
            "insert or replace into outbox_parts (message_id, part, reference, remote_id, status, sent_at,"
            " transport) values (?,?,?,?,'sent',?,?)",
            [message_id, part, reference if isinstance(reference, int) else None,
             reference if isinstance(reference, str) else None, now, transport],
        )  # fmt: skip
        if isinstance(reference, str):
            early = db.execute("select delivered from early_receipts where remote_id=?", [reference]).fetchone()
            if early:
                db.execute("delete from early_receipts where remote_id=?", [reference])
                _apply_part_report(db, message_id, part, 0 if early[0] else 0x40, now)
            if last:
                _sent(db, message_id, now)
            _settle(db, message_id, now)
            return
        if last:
            _sent(db, message_id, now)
        recipient = db.execute("select recipient from outbox where id=?", [message_id]).fetchone()[0]
        early = db.execute(
            "select id, status from early_reports where reference=? and number=? and received_at>=?"
            " order by id limit 1",
            [reference, phone.key(recipient), now - 600],
        ).fetchone()
        if early:
            db.execute("delete from early_reports where id=?", [early[0]])
            _apply_part_report(db, message_id, part, early[1], now)
        _settle(db, message_id, now)


def record_parts(db: sqlite_utils.Database, items: list[tuple[int, int, int | str, bool, float, str | None]]) -> None:
    with transaction(db):
        for item in items:
            record_part(db, *item)


def _sent(db: sqlite_utils.Database, message_id: int, now: float) -> None:
    db.execute(
        "update outbox set status='sent', sent_at=?, last_error=null, holder=null where id=? and status='sending'",
        [now, message_id],
    )


def finish_if_sent(db: sqlite_utils.Database, message_id: int, parts: int, now: float) -> bool:
    """A message whose every part is recorded is sent, whatever its status says: a crash (or a hand)
    may have left it 'sending', and it must not hold the queue for ever."""
    with transaction(db):
        have = db.execute("select count(*) from outbox_parts where message_id=?", [message_id]).fetchone()[0]
        if have < parts:
            return False
        db.execute(
            "update outbox set status='sent', sent_at=coalesce(sent_at, ?), holder=null"
            " where id=? and status='sending'",
            [now, message_id],
        )
        _settle(db, message_id, now)
    return True


def retry_later(db: sqlite_utils.Database, message_id: int, error: str, next_at: float) -> None:
    with transaction(db):
        db.execute(
            "update outbox set tries=tries+1, last_error=?, next_attempt_at=?, holder=null where id=?",
            [error, next_at, message_id],
        )


def fail(db: sqlite_utils.Database, message_id: int, error: str, now: float) -> None:
    with transaction(db):
        db.execute(
            "update outbox set tries=tries+1, status='failed', last_error=?, failed_at=?, holder=null"
            " where id=? and status in ('queued','sending','sent')",
            [error, now, message_id],
        )


def apply_report(
    db: sqlite_utils.Database, report: StatusReport, now: float, window: float, transport: str | None = None
) -> int | None:
    """Match a status report to a part by reference + number + time window, newest first, among the
    parts the modem that got the report sent (each modem numbers its references on its own)."""
    with transaction(db):
        row = db.execute(
            "select p.message_id, p.part from outbox_parts p join outbox o on o.id = p.message_id"
            " where p.reference=? and substr(o.recipient, -9) = ? and p.sent_at >= ?"
            " and p.status = 'sent' and (? is null or p.transport is null or p.transport = ?)"
            " order by p.sent_at desc limit 1",
            [report.reference, phone.key(report.number), now - window, transport, transport],
        ).fetchone()
        if row is None:
            # reports overtake the +CMGS answer often enough: keep it for record_part to claim
            db.execute(
                "insert into early_reports (reference, number, status, received_at) values (?,?,?,?)",
                [report.reference, phone.key(report.number), report.status, now],
            )
            return None
        if not report.final:
            return int(row[0])
        _apply_part_report(db, row[0], row[1], report.status, now)
        _settle(db, row[0], now)
        return int(row[0])


def apply_receipts(db: sqlite_utils.Database, items: list[tuple[str, bool, float]]) -> None:
    with transaction(db):
        for remote_id, delivered, now in items:
            apply_receipt(db, remote_id, delivered, now)


def apply_receipt(db: sqlite_utils.Database, remote_id: str, delivered: bool, now: float) -> int | None:
    """An SMSC's delivery receipt for the part it gave `remote_id`; the message it belongs to, or None."""
    with transaction(db):
        row = db.execute("select message_id, part from outbox_parts where remote_id=?", [remote_id]).fetchone()
        if row is None:
            # its submit_sm_resp may not be recorded yet: kept for record_part (old ones pruned)
            db.execute("delete from early_receipts where received_at<?", [now - 86400])
            db.execute(
                "insert or replace into early_receipts (remote_id, delivered, received_at) values (?,?,?)",
                [remote_id, int(delivered), now],
            )
            return None
        _apply_part_report(db, row[0], row[1], 0 if delivered else 0x40, now)
        _settle(db, row[0], now)
        return int(row[0])


def _apply_part_report(db: sqlite_utils.Database, message_id: int, part: int, status: int, now: float) -> None:
    if 0x20 <= status < 0x40:
        return
    db.execute(
        "update outbox_parts set status=?, report_status=?, report_at=? where message_id=? and part=?",
        ["delivered" if status < 0x20 else "failed", status, now, message_id, part],
    )


def _settle(db: sqlite_utils.Database, message_id: int, now: float) -> None:
    """A message is delivered when every part is, failed when any part is."""
    segments, status = db.execute("select segments, status from outbox where id=?", [message_id]).fetchone()
    if status != "sent":
        return
    counts = dict(
        db.execute(
            "select status, count(*) from outbox_parts where message_id=? group by status",
            [message_id],
        ).fetchall()
    )
    if counts.get("failed"):
        db.execute(
            "update outbox set status='failed', failed_at=?, last_error=? where id=?",
            [now, "báo cáo gửi: không tới được máy nhận (delivery report: failed)", message_id],
        )
    elif counts.get("delivered", 0) >= segments:
        db.execute("update outbox set status='delivered', delivered_at=? where id=?", [now, message_id])


def get(db: sqlite_utils.Database, message_id: int) -> dict[str, Any]:
    rows = list(db.query("select * from outbox where id=?", [message_id]))
    if not rows:
        raise NotFound(f"Không có tin nhắn số {message_id} (unknown message id)", id=message_id)
    row = rows[0]
    row["parts"] = list(
        db.query(
            "select part, reference, status, sent_at, report_at from outbox_parts where message_id=? order by part",
            [message_id],
        )
    )
    return row


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    found = dict(db.execute("select status, count(*) from outbox group by status").fetchall())
    return {s: int(found.get(s, 0)) for s in STATUSES}


def sent_since(db: sqlite_utils.Database, since: float) -> int:
    return int(
        db.execute(
            "select count(*) from outbox where status in ('sent','delivered') and sent_at>=?", [since]
        ).fetchone()[0]
    )


def per_transport(db: sqlite_utils.Database, since: float) -> dict[str, dict[str, int]]:
    """For each transport: parts it sent since `since`, of them delivered, and messages in its hands."""
    out: dict[str, dict[str, int]] = {}
    for name, sent, delivered in db.execute(
        "select transport, count(*), sum(status='delivered') from outbox_parts where sent_at>=? group by transport",
        [since],
    ):
        out.setdefault(name or "", {})["sent"], out[name or ""]["delivered"] = sent, delivered or 0
    for name, held in db.execute("select holder, count(*) from outbox where status='sending' group by holder"):
        out.setdefault(name or "", {})["holding"] = held
    return out


def recent_failures(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    return list(
        db.query("select recipient, last_error from outbox where status='failed' order by id desc limit ?", [limit])
    )


# ---- the senders ------------------------------------------------------------------------------------


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
            store, record_parts
        )
        self._window_records: GroupWriter[tuple[int, int, int | str, bool, float, str | None]] = GroupWriter(
            store, record_parts, gather=0.01
        )

    @property
    def transport(self) -> Transport:
        """The first transport (the first modem): USSD, credit and the network's clock go through it."""
        return self.channels[0].transport

    async def enqueue(self, recipients: list[str], prepared: Prepared, *, priority: str, source: str) -> list[int]:
        ids = await self.store.call(enqueue, recipients, prepared, PRIORITIES[priority], source, self.clock())
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
        message_id = await self.store.call(enqueue_reply, number, prepared, f"auto:{kind}", self.clock(), daily_cap)
        if message_id is None:
            log.warning("daily reply cap reached for %s: %s not sent", number, kind)
        else:
            self.wake()
        return message_id

    async def get(self, message_id: int) -> dict[str, Any]:
        return await self.store.call(get, message_id)

    async def counts(self) -> dict[str, int]:
        return await self.store.call(counts)

    async def sent_since(self, since: float) -> int:
        return await self.store.call(sent_since, since)

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]:
        return await self.store.call(recent_failures, limit)

    async def transports(self, since: float) -> list[dict[str, Any]]:
        """Each transport as the console and /healthz show it: its state and what it sent since `since`."""
        found = await self.store.call(per_transport, since)
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

    def rule(self, channel: Channel) -> Rule:
        """The routing policy ([routing]) for this transport, as things stand now."""
        now = self.clock()
        for c in self.channels:
            if c.transport.info.connected:
                c.down_since = None
            elif c.down_since is None:
                c.down_since = now
        r = self.routing
        up = [c for c in self.channels if c.down_since is None]
        smpp = [c for c in self.channels if c.smpp]
        allowed = {int(p) for p in PRIORITIES.values()}
        if r.alerts == "smpp" and not channel.smpp and any(c.smpp for c in up):
            allowed.discard(Priority.URGENT)
        if r.alerts == "modems" and channel.smpp and any(not c.smpp for c in up):
            allowed.discard(Priority.URGENT)
        if r.bulk == "smpp" and smpp and not channel.smpp:
            # the modems take reminders and bulk only when SMPP has been down for long enough
            gone = min((now - c.down_since) if c.down_since is not None else 0.0 for c in smpp)
            if not (r.bulk_fallback_after > 0 and gone >= r.bulk_fallback_after):
                allowed -= {Priority.NORMAL, Priority.BULK}
        elsewhere: set[str] = set()
        if r.prefer_carrier and not channel.smpp:
            elsewhere = {c.carrier for c in up if not c.smpp and c is not channel and c.carrier} - {channel.carrier}
        return Rule(
            down=tuple(c.name for c in self.channels if c.down_since is not None),
            names=tuple(c.name for c in self.channels),
            priorities=tuple(sorted(allowed)),
            any_route=r.replies == "any",
            elsewhere=tuple(sorted(elsewhere)),
            inflight=tuple(self._inflight),
        )

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
                claimed = await self.store.call(claim, ch.name, free, self.clock(), self.rule(ch))
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
                await self.store.call(release, [message_id])

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
            await self.store.call(finish_if_sent, message_id, len(pdus), self.clock())
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
                await self.store.call(release, [message_id])
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
            await self.store.call(fail, message_id, e.message, self.clock())
        else:
            delay = min(self.config.retry_base * 2 ** (tries - 1), self.config.retry_max)
            log.info("message %d: %s; retry %d in %.1f s", message_id, e, tries, delay)
            await self.store.call(retry_later, message_id, e.message, self.clock() + delay)
