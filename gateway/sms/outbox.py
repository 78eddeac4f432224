"""The outbox: messages queued in SQLite, one sender task per transport, retries and delivery reports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from gateway.core.clock import Clock
from gateway.core.errors import InvalidRequest, ModemError, ModemUnavailable, NotFound, StoreUnavailable
from gateway.core.notify import Notifier
from gateway.core.priority import SMS
from gateway.core.store import Store, transaction
from gateway.sms import numbers
from gateway.sms.config import SmsConfig
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
class Due:
    row: dict[str, Any] | None
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
            "insert into outbox (id, recipient, text, body, encoding, segments, priority, status,"
            " tries, next_attempt_at, source, created_at, concat_ref) values (?,?,?,?,?,?,?,'queued',0,?,?,?,?)",
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
    return message_id


def next_due(db: sqlite_utils.Database, now: float) -> Due:
    # 'sending' first: after a crash that one message resumes before anything else
    rows = list(
        db.query(
            "select * from outbox where status in ('queued','sending') and next_attempt_at <= ?"
            " order by status = 'sending' desc, priority, id limit 1",
            [now],
        )
    )
    if rows:
        return Due(rows[0], 0.0)
    later = db.execute("select min(next_attempt_at) from outbox where status in ('queued','sending')").fetchone()[0]
    return Due(None, None if later is None else max(0.0, later - now))


def mark_sending(db: sqlite_utils.Database, message_id: int) -> list[int]:
    """Move to 'sending' and return the parts already sent (a crash may have left some)."""
    with transaction(db):
        db.execute("update outbox set status='sending' where id=? and status='queued'", [message_id])
    return [r[0] for r in db.execute("select part from outbox_parts where message_id=?", [message_id])]


def record_part(
    db: sqlite_utils.Database, message_id: int, part: int, reference: int | str, last: bool, now: float
) -> None:
    """A part the network took: a modem's reference (an int), or an SMSC's message id (a string)."""
    with transaction(db):
        db.execute(
            "insert or replace into outbox_parts (message_id, part, reference, remote_id, status, sent_at)"
            " values (?,?,?,?,'sent',?)",
            [message_id, part, reference if isinstance(reference, int) else None,
             reference if isinstance(reference, str) else None, now],
        )  # fmt: skip
        if isinstance(reference, str):
            early = db.execute("select delivered from early_receipts where remote_id=?", [reference]).fetchone()
            if early:
                db.execute("delete from early_receipts where remote_id=?", [reference])
                _apply_part_report(db, message_id, part, 0 if early[0] else 0x40, now)
            if last:
                db.execute(
                    "update outbox set status='sent', sent_at=?, last_error=null where id=? and status='sending'",
                    [now, message_id],
                )
            _settle(db, message_id, now)
            return
        if last:
            db.execute(
                "update outbox set status='sent', sent_at=?, last_error=null where id=? and status='sending'",
                [now, message_id],
            )
        recipient = db.execute("select recipient from outbox where id=?", [message_id]).fetchone()[0]
        early = db.execute(
            "select id, status from early_reports where reference=? and number=? and received_at>=?"
            " order by id limit 1",
            [reference, numbers.key(recipient), now - 600],
        ).fetchone()
        if early:
            db.execute("delete from early_reports where id=?", [early[0]])
            _apply_part_report(db, message_id, part, early[1], now)
        _settle(db, message_id, now)


def finish_if_sent(db: sqlite_utils.Database, message_id: int, parts: int, now: float) -> bool:
    """A message whose every part is recorded is sent, whatever its status says: a crash (or a hand)
    may have left it 'sending', and it must not hold the queue for ever."""
    with transaction(db):
        have = db.execute("select count(*) from outbox_parts where message_id=?", [message_id]).fetchone()[0]
        if have < parts:
            return False
        db.execute(
            "update outbox set status='sent', sent_at=coalesce(sent_at, ?) where id=? and status='sending'",
            [now, message_id],
        )
        _settle(db, message_id, now)
    return True


def retry_later(db: sqlite_utils.Database, message_id: int, error: str, next_at: float) -> None:
    with transaction(db):
        db.execute(
            "update outbox set tries=tries+1, last_error=?, next_attempt_at=? where id=?",
            [error, next_at, message_id],
        )


def fail(db: sqlite_utils.Database, message_id: int, error: str, now: float) -> None:
    with transaction(db):
        db.execute(
            "update outbox set tries=tries+1, status='failed', last_error=?, failed_at=?"
            " where id=? and status in ('queued','sending','sent')",
            [error, now, message_id],
        )


def apply_report(db: sqlite_utils.Database, report: StatusReport, now: float, window: float) -> int | None:
    """Match a status report to a part by reference + number + time window, newest first."""
    with transaction(db):
        row = db.execute(
            "select p.message_id, p.part from outbox_parts p join outbox o on o.id = p.message_id"
            " where p.reference=? and substr(o.recipient, -9) = ? and p.sent_at >= ?"
            " and p.status = 'sent' order by p.sent_at desc limit 1",
            [report.reference, numbers.key(report.number), now - window],
        ).fetchone()
        if row is None:
            # reports overtake the +CMGS answer often enough: keep it for record_part to claim
            db.execute(
                "insert into early_reports (reference, number, status, received_at) values (?,?,?,?)",
                [report.reference, numbers.key(report.number), report.status, now],
            )
            return None
        if not report.final:
            return int(row[0])
        _apply_part_report(db, row[0], row[1], report.status, now)
        _settle(db, row[0], now)
        return int(row[0])


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


def recent_failures(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    return list(
        db.query("select recipient, last_error from outbox where status='failed' order by id desc limit ?", [limit])
    )


# ---- the sender ------------------------------------------------------------------------------------


class Outbox:
    """Takes messages from SQLite in priority order and hands their parts to one transport."""

    def __init__(
        self,
        store: Store,
        transport: Transport,
        config: SmsConfig,
        notifier: Notifier,
        clock: Clock,
    ) -> None:
        self.store = store
        self.transport = transport
        self.config = config
        self.notifier = notifier
        self.clock = clock
        self._wake = asyncio.Event()
        self._losses: dict[int, int] = {}
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def enqueue(self, recipients: list[str], prepared: Prepared, *, priority: str, source: str) -> list[int]:
        ids = await self.store.call(enqueue, recipients, prepared, PRIORITIES[priority], source, self.clock())
        self.wake()
        return ids

    async def auto_reply(self, sender: str, prepared: Prepared, kind: str, daily_cap: int) -> int | None:
        """What the gateway answers by itself: only to a Vietnamese mobile number (never a short code,
        a name, a foreign or a 1900 number: it costs and reaches no one), at most `daily_cap` a day."""
        try:
            number = numbers.normalise(sender)
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

    async def stop(self, timeout: float) -> None:
        """A clean stop: the part with the modem now is answered and recorded (waiting at most
        `timeout`), and no other is started; the rest of the queue waits for the next start."""
        self._stopping = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        if not self._idle.is_set():
            log.warning("stopping with a part still with the modem: it may go out again after the restart")

    def wake(self) -> None:
        """Something was queued (here, or by another service's store function): look again."""
        self._wake.set()
        self.notifier.notify()

    async def run(self) -> None:
        while True:
            try:
                await self.transport.wait_connected()
                self._wake.clear()
                if self._stopping:
                    return
                due = await self.store.call(next_due, self.clock())
                if due.row is None:
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(due.wait):
                            await self._wake.wait()
                    continue
                self._idle.clear()
                try:
                    await self._send(due.row)
                finally:
                    self._idle.set()
                if self.config.send_interval:
                    await asyncio.sleep(self.config.send_interval)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sender failed; going on")
                await asyncio.sleep(1.0)

    async def _send(self, row: dict[str, Any]) -> None:
        message_id = int(row["id"])
        done = set(await self.store.call(mark_sending, message_id))
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
                reference = await self.transport.send_pdu(pdu)
                await self._record(message_id, number, reference, number == len(pdus))
        except ModemUnavailable as e:
            # usually not this message's fault: it waits, untouched, for the modem to come back;
            # but a PDU the modem hangs on every time must not hold the queue for ever
            losses = self._losses[message_id] = self._losses.get(message_id, 0) + 1
            log.warning("message %d waits for the modem (%d): %s", message_id, losses, e)
            if losses >= LOSSES_PER_TRY:
                del self._losses[message_id]
                await self._count_try(row, e)
        except ModemError as e:
            await self._count_try(row, e)
        else:
            self._losses.pop(message_id, None)
        finally:
            self.notifier.notify()

    async def _record(self, message_id: int, part: int, reference: int | str, last: bool) -> None:
        """The network has the part: record it before anything else is sent. While the store cannot
        write (a full disk) sending stops here, and goes on by itself once the write succeeds."""
        delay = 1.0
        while True:
            try:
                await self.store.call(record_part, message_id, part, reference, last, self.clock())
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
