"""The outbox queue in SQLite: enqueue, claim, parts, reports and receipts, counts. Each function runs on
the store thread and each write is one transaction."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from gateway.core import phone
from gateway.core.errors import InvalidRequest, LimitReached, NotFound
from gateway.core.priority import SMS
from gateway.core.store import transaction
from gateway.sms.encoding import Prepared
from gateway.sms.pdu import StatusReport
from gateway.sms.routing import Rule

DAY = 86400.0

# the names the API uses; the scale is the one audio uses too (gateway.core.priority)
PRIORITIES = SMS
PRIORITY_NAMES = {int(v): k for k, v in PRIORITIES.items()}
STATUSES = ("queued", "sending", "sent", "delivered", "failed", "cancelled")


@dataclass(frozen=True)
class Claimed:
    rows: list[dict[str, Any]]  # each with "done": its parts already sent
    wait: float | None  # seconds until the next retry falls due, None when nothing waits


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
    db: sqlite_utils.Database, number: str, prepared: Prepared, source: str, now: float, cap: int, budget: int = 0
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
        if budget and auto_replies_since(db, now - DAY) >= budget:
            raise LimitReached("Hết ngân sách trả lời tự động của xã hôm nay", limit=budget)
        (message_id,) = enqueue(db, [number], prepared, PRIORITIES["reply"], source, now)
        # through the transport the question came in on (routing.Rule says whether that binds)
        via = db.execute(
            "select via from inbox where sender in (?, ?) order by id desc limit 1", [number, number.lstrip("+")]
        ).fetchone()
        if via and via[0]:
            db.execute("update outbox set route=? where id=?", [via[0], message_id])
    return message_id


def auto_replies_since(db: sqlite_utils.Database, since: float) -> int:
    """Automatic replies the whole commune queued since `since`."""
    row = db.execute("select count(*) from outbox where source like 'auto:%' and created_at>=?", [since]).fetchone()
    return int(row[0])


def claim(
    db: sqlite_utils.Database, me: str, limit: int, now: float, rule: Rule, busy: Collection[int] = ()
) -> Claimed:
    """Up to `limit` due messages `me` may send under `rule` (routing.Rule.admits, here in SQL), not
    `busy` (in another sender's hands in this process), now in its hands ('sending', holder);
    'sending' first: after a crash or a dead transport those resume before anything new."""
    params = {
        "now": now, "limit": limit, "busy": json.dumps(list(busy)), "priorities": json.dumps(rule.priorities),
        "others": json.dumps(rule.others), "routed_away": json.dumps(rule.routed_away),
        "elsewhere": json.dumps(rule.elsewhere), "carrier_priorities": json.dumps(rule.carrier_priorities),
    }  # fmt: skip
    allowed = (
        " and next_attempt_at <= :now"
        " and id not in (select value from json_each(:busy))"
        " and priority in (select value from json_each(:priorities))"
        " and (holder is null or holder not in (select value from json_each(:others)))"
        " and (route is null or route not in (select value from json_each(:routed_away)))"
        " and (carrier is null or carrier not in (select value from json_each(:elsewhere))"
        "      or priority not in (select value from json_each(:carrier_priorities)))"
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


def cancel_queued(db: sqlite_utils.Database, sources: Collection[str], now: float) -> int:
    """Messages of these sources not yet in a transport's hands: failed as cancelled, never sent;
    what a transport holds already goes on (its parts may be on the air)."""
    with transaction(db):
        return db.execute(
            "update outbox set status='failed', last_error='đã huỷ trước khi gửi (cancelled)', failed_at=?"
            " where status='queued' and source in (select value from json_each(?))",
            [now, json.dumps(list(sources))],
        ).rowcount


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


def cancel(db: sqlite_utils.Database, ids: Collection[int], source: str | None, now: float, by: str) -> int:
    """Messages still waiting (not yet in a transport's hands) cancelled: these ids, or a whole batch."""
    where, args = (
        ("source=?", [source]) if source else ("id in (select value from json_each(?))", [json.dumps(list(ids))])
    )
    with transaction(db):
        cur = db.execute(
            f"update outbox set status='cancelled', last_error=?, failed_at=? where status='queued' and {where}",
            [f"Đã huỷ trước khi gửi ({by[:40]})", now, *args],
        )
    return cur.rowcount


def resend(db: sqlite_utils.Database, message_id: int, now: float) -> int:
    """A failed or cancelled message queued again as a new row of the same batch (the old row stays
    as the history of what happened); the new row's id."""
    with transaction(db):
        row = db.execute("select status from outbox where id=?", [message_id]).fetchone()
        if row is None:
            raise NotFound(f"Không có tin nhắn số {message_id}", id=message_id)
        if row[0] not in ("failed", "cancelled"):
            raise InvalidRequest(f"Tin số {message_id} không bị lỗi hay bị huỷ: không cần gửi lại.", field="status")
        new = db.execute("select coalesce(max(id), 0) + 1 from outbox").fetchone()[0]
        db.execute(
            "insert into outbox (id, recipient, text, body, encoding, segments, priority, status, tries,"
            " next_attempt_at, source, created_at, concat_ref, carrier) select ?, recipient, text, body, encoding,"
            " segments, priority, 'queued', 0, 0, source, ?, ?, carrier from outbox where id=?",
            [new, now, new % 256, message_id],
        )
    return int(new)


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
