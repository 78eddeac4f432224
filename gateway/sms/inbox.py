"""The inbox: inbound PDUs stored once, concatenated parts reassembled, delivery reports matched."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import sqlite_utils

from gateway.core.clock import Clock
from gateway.core.notify import Notifier
from gateway.core.store import GroupWriter, Store, transaction
from gateway.sms.config import SmsConfig
from gateway.sms.pdu import (
    InboundPart,
    PduError,
    decode_deliver,
    decode_report,
    units_to_text,
)
from gateway.sms.queue import apply_receipts, apply_report
from gateway.sms.transport import Receiver
from schedules.scheduler import Job, Scheduler

log = logging.getLogger(__name__)


def store_part(db: sqlite_utils.Database, part: InboundPart, now: float, via: str | None = None) -> int | None:
    """Store one SMS-DELIVER (that came in on the transport `via`); return the inbox id when a whole
    message is complete, else None."""
    sent_at = part.sent_at.isoformat() if part.sent_at else None
    with transaction(db):
        if db.execute("select 1 from seen_pdus where digest=?", [part.digest]).fetchone():
            log.info("duplicate PDU from %s dropped", part.sender)
            return None
        db.execute("insert into seen_pdus (digest, received_at) values (?,?)", [part.digest, now])
        if part.concat is None or part.concat[1] <= 1:
            return _insert(db, part.sender, units_to_text(part.units), 1, False, sent_at, now, via, part.alphanumeric)
        reference, total, seq = part.concat
        db.execute(
            "insert or ignore into inbound_parts (sender, reference, total, seq, units, sent_at,"
            " received_at, via, alphanumeric) values (?,?,?,?,?,?,?,?,?)",
            [part.sender, reference, total, seq, part.units, sent_at, now, via, int(part.alphanumeric)],
        )
        have = db.execute(
            "select count(*) from inbound_parts where sender=? and reference=? and total=?",
            [part.sender, reference, total],
        ).fetchone()[0]
        if have < total:
            return None
        return _assemble(db, part.sender, reference, total, now, partial=False)


def _assemble(db: sqlite_utils.Database, sender: str, reference: int, total: int, now: float, *, partial: bool) -> int:
    rows = db.execute(
        "select seq, units, sent_at, via, alphanumeric from inbound_parts where sender=? and reference=? and total=?"
        " order by seq",
        [sender, reference, total],
    ).fetchall()
    # join the raw UTF-16 first: an emoji cut between two parts becomes whole again
    units = b"".join(r[1] for r in rows)
    text = units_to_text(units)
    if partial:
        missing = sorted(set(range(1, total + 1)) - {r[0] for r in rows})
        text += f" […thiếu phần {', '.join(map(str, missing))}/{total}]"
    db.execute(
        "delete from inbound_parts where sender=? and reference=? and total=?",
        [sender, reference, total],
    )
    # one part sent as a name makes the whole a name's: a number is never trusted on half the evidence
    named = any(r[4] for r in rows)
    return _insert(db, sender, text, len(rows), partial, rows[0][2], now, rows[-1][3], named)


def _insert(
    db: sqlite_utils.Database,
    sender: str,
    text: str,
    parts: int,
    partial: bool,
    sent_at: str | None,
    now: float,
    via: str | None = None,
    alphanumeric: bool = False,
) -> int:
    cur = db.execute(
        "insert into inbox (sender, text, parts, partial, sent_at, received_at, via, alphanumeric)"
        " values (?,?,?,?,?,?,?,?)",
        [sender, text, parts, int(partial), sent_at, now, via, int(alphanumeric)],
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def flush_partials(db: sqlite_utils.Database, older_than: float, now: float) -> list[int]:
    """Parts whose siblings never came are kept as a partial message, not thrown away."""
    with transaction(db):
        groups = db.execute(
            "select sender, reference, total from inbound_parts group by sender, reference, total"
            " having min(received_at) < ?",
            [older_than],
        ).fetchall()
        return [_assemble(db, s, r, t, now, partial=True) for s, r, t in groups]


def oldest_part(db: sqlite_utils.Database) -> float | None:
    row = db.execute("select min(received_at) from inbound_parts").fetchone()
    return None if row[0] is None else float(row[0])


def reject(db: sqlite_utils.Database, pdu: str, error: str, now: float) -> None:
    with transaction(db):
        db.execute("insert into inbox_rejects (pdu, error, received_at) values (?,?,?)", [pdu, error, now])


def unrouted(db: sqlite_utils.Database) -> list[int]:
    return [r[0] for r in db.execute("select id from inbox where routed_at is null order by id")]


def get(db: sqlite_utils.Database, inbox_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from inbox where id=?", [inbox_id]))
    return rows[0] if rows else None


def mark_routed(db: sqlite_utils.Database, inbox_id: int, now: float) -> None:
    with transaction(db):
        db.execute("update inbox set routed_at=? where id=? and routed_at is null", [now, inbox_id])


def recent(db: sqlite_utils.Database, limit: int, before: int | None) -> list[dict[str, Any]]:
    sql = "select * from inbox"
    args: list[Any] = []
    if before is not None:
        sql += " where id < ?"
        args.append(before)
    sql += " order by id desc limit ?"
    args.append(limit)
    return list(db.query(sql, args))


class Inbox:
    """Every transport's Receiver: persists each PDU before the transport may delete it; matches
    delivery reports to the outbox; hands each whole message to the router."""

    def __init__(
        self,
        store: Store,
        notifier: Notifier,
        clock: Clock,
        config: SmsConfig,
        submit: Callable[[int], None],
        scheduler: Scheduler,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.notifier = notifier
        self.clock = clock
        self.config = config
        self.submit = submit  # the router's: a whole message stored is routed soon
        self._receipts = GroupWriter(store, apply_receipts, gather=0.01)

    def receiver(self, via: str) -> Receiver:
        """The Receiver one transport hands what it gets to: it says which transport it came in on."""
        return _Via(self, via)

    async def recent(self, limit: int, before: int | None) -> list[dict[str, Any]]:
        """Newest first, `limit` of them, older than the id `before` when given (paging)."""
        return await self.store.call(recent, limit, before)

    async def handle_pdu(self, pdu_hex: str, via: str | None = None) -> None:
        now = self.clock()
        try:
            first = int(pdu_hex[:2], 16)
            tpdu_type = int(pdu_hex[2 + 2 * first : 4 + 2 * first], 16) & 0x03
        except ValueError:
            tpdu_type = -1
        try:
            if tpdu_type == 0x02:
                report = decode_report(pdu_hex)
                await self.store.call(apply_report, report, now, self.config.report_window, via)
                self.notifier.notify()
                return
            part = decode_deliver(pdu_hex)
        except PduError as e:
            log.error("unreadable PDU from the modem kept in inbox_rejects: %s", e)
            await self.store.call(reject, pdu_hex, str(e), now)
            self.notifier.notify()
            return
        await self.handle_part(part, via)

    async def handle_part(self, part: InboundPart, via: str | None = None) -> None:
        message_id = await self.store.call(store_part, part, self.clock(), via)
        self.notifier.notify()
        if message_id is not None:
            self.submit(message_id)
        elif part.concat is not None:
            self.scheduler.wake()  # a part waits for its siblings: the reassembly deadline may be sooner

    async def handle_receipt(self, remote_id: str, delivered: bool, via: str | None = None) -> None:
        # Receipts come in bursts (one per part sent through SMPP) and the SMSC waits for each to be
        # acknowledged before it sends the next PDU (submit answers too): they are written a group
        # every 10 ms after they are acknowledged. One lost in a crash leaves its part 'sent'.
        written = self._receipts.add((remote_id, delivered, self.clock()))
        written.add_done_callback(self._receipt_written)

    def _receipt_written(self, fut: asyncio.Future[None]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            log.error("a delivery receipt could not be written: %s", None if fut.cancelled() else fut.exception())
        self.notifier.notify()

    async def close(self) -> None:
        """Receipts still being gathered are written before the store closes."""
        await self._receipts.drain()

    def job(self) -> Job:
        return Job("reassembly", float("inf"), self._next_flush, self._flush)

    async def _next_flush(self) -> float | None:
        oldest = await self.store.call(oldest_part)
        return None if oldest is None else oldest + self.config.reassembly_timeout

    async def _flush(self, now: float, grace: float) -> Sequence[asyncio.Task[None]]:
        await self.flush_partials()
        return []

    async def flush_partials(self) -> None:
        """Multipart messages whose other parts did not come within the reassembly timeout."""
        now = self.clock()
        ids = await self.store.call(flush_partials, now - self.config.reassembly_timeout, now)
        if ids:
            log.warning("kept %d incomplete multipart message(s) as partial", len(ids))
            self.notifier.notify()
            for message_id in ids:
                self.submit(message_id)


class _Via:
    def __init__(self, inbox: Inbox, via: str) -> None:
        self.inbox, self.via = inbox, via

    async def handle_pdu(self, pdu_hex: str) -> None:
        await self.inbox.handle_pdu(pdu_hex, self.via)

    async def handle_part(self, part: InboundPart) -> None:
        await self.inbox.handle_part(part, self.via)

    async def handle_receipt(self, remote_id: str, delivered: bool) -> None:
        await self.inbox.handle_receipt(remote_id, delivered, self.via)
