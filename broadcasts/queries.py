"""Store functions of reminders (templates, recurrence, quiet hours, daily cap) and of alerts to confirm."""

from __future__ import annotations

import json
import logging
import re
import string
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from broadcasts.config import BroadcastsConfig
from broadcasts.people import Person, check_target, resolve, used_today, valid_number
from gateway.core.errors import InvalidRequest, LoaError, NotFound
from gateway.core.store import transaction
from gateway.core.text import fold
from gateway.sms import published as sms
from gateway.sms.encoding import Policy, Prepared, prepare
from gateway.sms.published import PRIORITIES, enqueue_many
from schedules.recurrence import QuietHours, Rule, RuleError, parse_rule

log = logging.getLogger(__name__)
DAY = 86400.0
MIN_REPEAT = 3600  # seconds: the closest two firings of one reminder may be
FIELDS = {"ten", "thon", "ngay"}
ROUTINE = PRIORITIES["reminder"]  # reminder and bulk: what quiet hours and the daily cap apply to
ACK = re.compile(r"^\s*(?:ok|oke|okay|da nhan|xac nhan)\b\W*(\d+)?\s*$")


def template_fields(template: str) -> set[str]:
    """Only {ten}, {thon}, {ngay}, as they are: a format spec or conversion ({ten:>1000000000})
    could make one message of gigabytes."""
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise InvalidRequest(f"Mẫu tin lỗi: {e} (template error)", field="text") from None
    if any(spec or conv for _, spec, conv in parsed):
        raise InvalidRequest("Mẫu tin chỉ dùng {ten}, {thon}, {ngay}, không kèm định dạng", field="text")
    found = {f for f, _, _ in parsed}
    if found - FIELDS:
        raise InvalidRequest(
            f"Mẫu tin có trường lạ {sorted(found - FIELDS)}; dùng {{ten}}, {{thon}}, {{ngay}}", field="text"
        )
    return found


def fill(template: str, person: Person, day: str) -> str:
    return template.format(ten=person.name or "bà con", thon=person.hamlet or "", ngay=day).strip()


class Queries:
    """Everything here runs on the store thread (through Broadcasts); each write is one transaction."""

    def __init__(self, config: BroadcastsConfig, policy: Policy) -> None:
        self.config = config
        b = config
        self.tz = ZoneInfo(b.timezone)
        self.quiet = QuietHours.parse(b.quiet_start, b.quiet_end, b.timezone)
        self.policy = policy

    # ---- reminders ----

    def _day(self, moment: float) -> str:
        return datetime.fromtimestamp(moment, self.tz).strftime("%d/%m/%Y")

    def _messages(self, template: str, people: list[Person], day: str) -> list[tuple[Person, Prepared]]:
        cache: dict[str, Prepared] = {}
        out = []
        for person in people:
            text = fill(template, person, day)
            prepared = cache.get(text)
            if prepared is None:
                prepared = cache[text] = prepare(text, self.policy)
            out.append((person, prepared))
        return out

    def _routine_counts(self, db: sqlite_utils.Database, now: float) -> dict[str, int]:
        return sms.messages_per_recipient(db, now - DAY, ROUTINE)

    def preview(self, db: sqlite_utils.Database, raw: dict[str, Any], now: float) -> dict[str, Any]:
        template, target, rule = self._parse(db, raw, now)
        fire_at = rule.next_after(now - 1, self.tz)
        everyone = resolve(db, target, keep_opted=True)
        people = resolve(db, target)
        messages = self._messages(template, people, self._day(fire_at or now))
        counts = self._routine_counts(db, now)
        capped = sum(1 for p in people if counts.get(p.number, 0) >= self.config.daily_cap)
        segments = sum(p.segments for _, p in messages)
        return {
            "recipients": len(people),
            "opted_out": len(everyone) - len(people),
            "capped_now": capped,
            "segments": segments,
            "cost": segments * self.config.segment_price,
            "currency": "VND",
            "sample": messages[0][1].body if messages else None,
            "next_fire_at": fire_at,
        }

    def _parse(self, db: sqlite_utils.Database, raw: dict[str, Any], now: float) -> tuple[str, dict[str, Any], Rule]:
        template = raw.get("text")
        if not isinstance(template, str) or not template.strip():
            raise InvalidRequest("Thiếu nội dung 'text'", field="text")
        template_fields(template)
        target = check_target(db, raw.get("to"))
        try:
            rule = parse_rule(raw.get("when", "now"), now, self.tz)
        except RuleError as e:
            raise InvalidRequest(str(e), field="when") from None
        return template, target, rule

    def create_reminder(
        self, db: sqlite_utils.Database, raw: dict[str, Any], now: float, by: str | None = None, ceiling: int = 0
    ) -> dict[str, Any]:
        template, target, rule = self._parse(db, raw, now)
        first = rule.next_after(now - 1, self.tz)
        if first is None:
            raise InvalidRequest("Thời điểm đã qua (the time is in the past)", field="when")
        self._not_too_often(rule, first)
        # every message it would send is prepared now: one too long is refused before it is saved
        self._messages(template, resolve(db, target, keep_opted=True), self._day(first))
        with transaction(db):
            cur = db.execute(
                "insert into reminders (template, target, rule, status, created_at, next_fire_at, created_by, ceiling)"
                " values (?,?,?,'active',?,?,?,?)",
                [template, json.dumps(target, ensure_ascii=False), json.dumps(rule.as_json()), now, first, by, ceiling],
            )
        assert cur.lastrowid is not None
        return {"id": cur.lastrowid, "next_fire_at": first}

    def _not_too_often(self, rule: Rule, first: float) -> None:
        """A reminder repeats at most once an hour ("* * * * *" would text a hamlet every minute): the
        gaps between its next firings are checked, a cron's odd ones ("0,1 8 * * *") too."""
        t = first
        for _ in range(48):
            following = rule.next_after(t, self.tz)
            if following is None:
                return
            if following - t < MIN_REPEAT:
                raise InvalidRequest(
                    f"Lịch nhắc lặp lại quá dày: cách nhau ít nhất {MIN_REPEAT // 60} phút (repeats too often)",
                    field="when",
                )
            t = following

    def next_reminder_at(self, db: sqlite_utils.Database) -> float | None:
        row = db.execute("select min(next_fire_at) from reminders where status='active'").fetchone()
        return None if row[0] is None else float(row[0])

    def run_due(self, db: sqlite_utils.Database, now: float, grace: float) -> list[dict[str, Any]]:
        """Fire every reminder that is due; each firing and its messages are one transaction."""
        due = db.execute(
            "select id from reminders where status='active' and next_fire_at<=? order by next_fire_at", [now]
        ).fetchall()
        runs = []
        for (rid,) in due:
            try:
                runs.append(self.fire(db, rid, now, grace))
            except Exception as e:
                # one bad row never stops the others: it is marked failed, with its reason, and left
                reason = e.message if isinstance(e, LoaError) else repr(e)
                log.exception("reminder %d failed: %s", rid, reason)
                with transaction(db):
                    db.execute("update reminders set status='failed', last_error=? where id=?", [reason[:500], rid])
        return runs

    def fire(self, db: sqlite_utils.Database, reminder_id: int, now: float, grace: float) -> dict[str, Any]:
        """One firing: its messages queued and its run recorded, or recorded missed when more than
        `grace` seconds late (the power came back too late: say so, do not send stale news)."""
        with transaction(db):
            row = db.execute(
                "select template, target, rule, next_fire_at, created_by, ceiling from reminders where id=?",
                [reminder_id],
            ).fetchone()
            template, target, rule = row[0], json.loads(row[1]), Rule(**json.loads(row[2]))
            fire_at = row[3]
            result: dict[str, Any] = {
                "reminder": reminder_id,
                "fire_at": fire_at,
                "status": "sent",
                "recipients": 0,
                "queued": 0,
                "opted_out": 0,
                "capped": 0,
                "deferred": 0,
            }
            if now - fire_at > grace:
                result["status"] = "missed"
                log.warning("reminder %d due %s missed (back %.0f s late)", reminder_id, fire_at, now - fire_at)
            else:
                everyone = resolve(db, target, keep_opted=True)
                people = resolve(db, target)
                counts = self._routine_counts(db, now)
                release = self.quiet.release(now)
                batch: list[tuple[str, Prepared, float]] = []
                for person, prepared in self._messages(template, people, self._day(fire_at)):
                    if counts.get(person.number, 0) >= self.config.daily_cap:
                        result["capped"] += 1
                        continue
                    counts[person.number] = counts.get(person.number, 0) + 1
                    batch.append((person.number, prepared, release))
                wanted = sum(p.segments for _, p, _ in batch)
                if row[5] and row[4] and batch and used_today(db, row[4], now) + wanted > row[5]:
                    # the maker's daily ceiling holds on every path: nothing of this firing is queued
                    log.warning("reminder %d: %s's daily ceiling of %d segments reached", reminder_id, row[4], row[5])
                    result["status"] = "capped"
                    result["capped"] += len(batch)
                    batch = []
                enqueue_many(db, batch, ROUTINE, f"reminder:{reminder_id}", now)
                result |= {
                    "recipients": len(people),
                    "queued": len(batch),
                    "opted_out": len(everyone) - len(people),
                    "deferred": len(batch) if release > now else 0,
                }
            db.execute(
                "insert or ignore into reminder_runs values (:reminder, :fire_at, :ran_at, :status, :recipients,"
                " :queued, :opted_out, :capped, :deferred)",
                result | {"ran_at": now},
            )
            nxt = rule.next_after(max(now, fire_at), self.tz)
            db.execute(
                "update reminders set last_fire_at=?, next_fire_at=?, status=? where id=?",
                [fire_at, nxt, "active" if nxt is not None else "done", reminder_id],
            )
        return result

    def list_reminders(self, db: sqlite_utils.Database) -> list[dict[str, Any]]:
        out = []
        for r in db.query("select * from reminders order by id desc"):
            runs = list(db.query("select * from reminder_runs where reminder_id=? order by fire_at", [r["id"]]))
            out.append(
                {
                    "id": r["id"],
                    "text": r["template"],
                    "to": json.loads(r["target"]),
                    "when": json.loads(r["rule"]),
                    "status": r["status"],
                    "last_error": r["last_error"],
                    "next_fire_at": r["next_fire_at"],
                    "runs": runs,
                }
            )
        return out

    def cancel_reminder(self, db: sqlite_utils.Database, reminder_id: int) -> None:
        with transaction(db):
            cur = db.execute("update reminders set status='cancelled' where id=? and status='active'", [reminder_id])
        if cur.rowcount == 0:
            raise NotFound(f"Không có lịch nhắc đang chạy số {reminder_id}", id=reminder_id)

    # ---- alerts ----

    def create_alert(self, db: sqlite_utils.Database, raw: dict[str, Any], now: float) -> dict[str, Any]:
        text = raw.get("text")
        if not isinstance(text, str) or not text.strip():
            raise InvalidRequest("Thiếu nội dung cảnh báo 'text'", field="text")
        target = check_target(db, raw.get("to"))
        minutes = raw.get("confirm_minutes", self.config.alert_confirm_minutes)
        if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not 1 <= minutes <= 7 * 24 * 60:
            # NaN and infinity fail this too: a row that could never be checked again
            raise InvalidRequest("confirm_minutes phải là số phút từ 1 đến 10080 (một tuần)", field="confirm_minutes")
        escalate_to = str(raw.get("escalate_to") or self.config.alert_escalate_to or "")
        if escalate_to:
            escalate_to, _ = valid_number(escalate_to)
        people = resolve(db, target)
        if not people:
            raise InvalidRequest("Không có ai để gửi (no recipients)", field="to")
        with transaction(db):
            cur = db.execute(
                "insert into alerts (text, created_at, confirm_minutes, escalate_to, status, source)"
                " values (?,?,?,?,'open','manual')",
                [text.strip(), now, float(minutes), escalate_to],
            )
            alert_id = cur.lastrowid
            assert alert_id is not None
            self._fits(text.strip(), alert_id)
            for person in people:
                others = self._unconfirmed(db, person.number)
                message = self._alert_text(text.strip(), alert_id, with_code=bool(others))
                (message_id,) = enqueue_many(
                    db, [(person.number, message, 0.0)], PRIORITIES["alert"], f"alert:{alert_id}", now
                )
                db.execute(
                    "insert into alert_recipients (alert_id, number, name, message_id, sent_at) values (?,?,?,?,?)",
                    [alert_id, person.number, person.name, message_id, now],
                )
        return {"id": alert_id, "recipients": len(people)}

    def _fits(self, text: str, alert_id: int) -> None:
        """The alert is sized with what follows it, when it is made: its re-send ("Nhắc lại: " and the
        code, the longest it sends) must fit as well; an escalation quotes at most 200 characters."""
        try:
            self._alert_text(text, alert_id, with_code=True, again=True)
        except InvalidRequest as e:
            raise InvalidRequest(
                "Cảnh báo quá dài: tin nhắc lại (thêm 'Nhắc lại: ' và mã) sẽ vượt giới hạn;"
                f" hãy rút ngắn ({e.message})",
                field="text",
            ) from None

    def _alert_text(self, text: str, alert_id: int, *, with_code: bool, again: bool = False) -> Prepared:
        reply = f"OK {alert_id}" if with_code else "OK"
        body = f"{'Nhắc lại: ' if again else ''}{text} Trả lời {reply} để xác nhận đã nhận."
        return prepare(fold(body) if self.policy == "gsm7" else body, self.policy)

    def _unconfirmed(self, db: sqlite_utils.Database, number: str) -> list[int]:
        return [
            r[0]
            for r in db.execute(
                "select r.alert_id from alert_recipients r join alerts a on a.id = r.alert_id"
                " where r.number=? and r.confirmed_at is null and a.status='open' order by r.alert_id",
                [number],
            )
        ]

    def acknowledge(self, db: sqlite_utils.Database, number: str, text: str, now: float) -> tuple[bool, str | None]:
        """(consumed, reply): 'OK' or 'OK <code>' from someone an alert went to."""
        m = ACK.match(fold(text).lower())
        if m is None:
            return False, None
        with transaction(db):
            known = db.execute("select count(*) from alert_recipients where number=?", [number]).fetchone()[0]
            if not known:
                return False, None
            waiting = self._unconfirmed(db, number)
            code = int(m.group(1)) if m.group(1) else None
            if code is None and len(waiting) > 1:
                codes = " hoặc ".join(f"OK {a}" for a in waiting)
                return True, f"Có {len(waiting)} cảnh báo chờ xác nhận: nhắn {codes}"
            if code is None:
                code = waiting[0] if waiting else None
            if code is None or code not in waiting:
                return True, None  # a repeated OK: already confirmed
            self._confirm(db, code, number, now)
        return True, f"Đã nhận xác nhận cảnh báo {code}. Cảm ơn."

    def acknowledge_call(self, db: sqlite_utils.Database, number: str, now: float) -> list[int]:
        """A missed call from someone an alert went to confirms every alert they have not confirmed
        (a call cannot say which; they rang because the alerts reached them); [] when none waits."""
        with transaction(db):
            waiting = self._unconfirmed(db, number)
            for code in waiting:
                self._confirm(db, code, number, now)
        return waiting

    def _confirm(self, db: sqlite_utils.Database, code: int, number: str, now: float) -> None:
        db.execute("update alert_recipients set confirmed_at=? where alert_id=? and number=?", [now, code, number])
        left = db.execute(
            "select count(*) from alert_recipients where alert_id=? and confirmed_at is null", [code]
        ).fetchone()[0]
        if left == 0:
            db.execute("update alerts set status='confirmed' where id=?", [code])

    def next_alert_check_at(self, db: sqlite_utils.Database) -> float | None:
        """When someone's confirmation window ends next: a re-send, or after it an escalation."""
        row = db.execute(
            "select min(case when r.resent_at is null then r.sent_at else r.resent_at end + a.confirm_minutes * 60)"
            " from alert_recipients r join alerts a on a.id = r.alert_id"
            " where a.status='open' and r.confirmed_at is null and r.escalated_at is null"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def open_alerts(self, db: sqlite_utils.Database) -> int:
        return int(db.execute("select count(*) from alerts where status='open'").fetchone()[0])

    def recent_alerts(self, db: sqlite_utils.Database, limit: int, hamlet_id: int | None = None) -> list[int]:
        """The newest alerts; with a hamlet, those that went to someone of it."""
        if hamlet_id is None:
            return [r[0] for r in db.execute("select id from alerts order by id desc limit ?", [limit])]
        return [
            r[0]
            for r in db.execute(
                "select distinct r.alert_id from alert_recipients r join contacts c on c.number = r.number"
                " where c.hamlet_id=? order by r.alert_id desc limit ?",
                [hamlet_id, limit],
            )
        ]

    def close_alert(self, db: sqlite_utils.Database, alert_id: int) -> bool:
        """No more re-sends or escalations; True when it was still open."""
        with transaction(db):
            if not db.execute("select 1 from alerts where id=?", [alert_id]).fetchone():
                raise NotFound(f"Không có cảnh báo số {alert_id}", id=alert_id)
            return db.execute("update alerts set status='closed' where id=? and status='open'", [alert_id]).rowcount > 0

    def check_alerts(self, db: sqlite_utils.Database, now: float) -> dict[str, int]:
        """Send again whoever has not confirmed in time; then tell the official who still has not."""
        done = {"resent": 0, "escalated": 0}
        with transaction(db):
            for alert_id, text, minutes, escalate_to in db.execute(
                "select id, text, confirm_minutes, escalate_to from alerts where status='open'"
            ).fetchall():
                if not isinstance(minutes, int | float) or not 0 < minutes < float("inf"):
                    # a row no check can work with (written before the input was checked): skipped, marked
                    log.error("alert %d has no usable confirm_minutes (%r): marked failed", alert_id, minutes)
                    db.execute("update alerts set status='failed' where id=?", [alert_id])
                    continue
                # each alert on its own savepoint: one that cannot be followed up (a re-send too long,
                # made before alerts were sized) is marked failed and never holds another's
                db.execute("savepoint alert_check")
                try:
                    r, e = self._follow_up(db, alert_id, text, minutes * 60, escalate_to, now)
                except LoaError as error:
                    db.execute("rollback to alert_check")
                    log.error("alert %d cannot be followed up (%s): marked failed", alert_id, error.message)
                    db.execute("update alerts set status='failed' where id=?", [alert_id])
                else:
                    done["resent"] += r
                    done["escalated"] += e
                db.execute("release alert_check")
        return done

    def _follow_up(
        self, db: sqlite_utils.Database, alert_id: int, text: str, window: float, escalate_to: str | None, now: float
    ) -> tuple[int, int]:
        """One alert's re-sends and escalation due at `now`: (re-sent, escalated)."""
        resent = escalated = 0
        for (number,) in db.execute(
            "select number from alert_recipients where alert_id=? and confirmed_at is null"
            " and resent_at is null and sent_at<=?",
            [alert_id, now - window],
        ).fetchall():
            others = [a for a in self._unconfirmed(db, number) if a != alert_id]
            message = self._alert_text(text, alert_id, with_code=bool(others), again=True)
            (mid,) = enqueue_many(db, [(number, message, 0.0)], PRIORITIES["alert"], f"alert:{alert_id}", now)
            db.execute(
                "update alert_recipients set resent_at=?, resend_message_id=? where alert_id=? and number=?",
                [now, mid, alert_id, number],
            )
            resent += 1
        late = db.execute(
            "select number, name from alert_recipients where alert_id=? and confirmed_at is null"
            " and resent_at<=? and escalated_at is null",
            [alert_id, now - window],
        ).fetchall()
        if not late:
            return resent, escalated
        names = ", ".join(f"{name or '?'} {number}" for number, name in late)
        if escalate_to:
            # the official may be on the road: the alert's own words, then who has not confirmed
            note = f'Cảnh báo {alert_id} "{text[:200]}" chưa được xác nhận bởi: {names}'
            enqueue_many(
                db,
                [(escalate_to, prepare(note[:600], self.policy), 0.0)],
                PRIORITIES["alert"],
                f"alert:{alert_id}:escalation",
                now,
            )
        else:
            log.warning("alert %d: no one to escalate to; not confirmed by %s", alert_id, names)
        db.conn.executemany(
            "update alert_recipients set escalated_at=? where alert_id=? and number=?",
            [(now, alert_id, number) for number, _ in late],
        )
        escalated += len(late)
        return resent, escalated

    def board(self, db: sqlite_utils.Database, alert_id: int) -> dict[str, Any]:
        rows = list(db.query("select * from alerts where id=?", [alert_id]))
        if not rows:
            raise NotFound(f"Không có cảnh báo số {alert_id}", id=alert_id)
        alert = rows[0]
        recipients = list(
            db.query(
                "select r.*, h.name as hamlet from alert_recipients r"
                " left join contacts c on c.number = r.number left join hamlets h on h.id = c.hamlet_id"
                " where r.alert_id=? order by r.name, r.number",
                [alert_id],
            )
        )
        # the messages' statuses are the SMS package's to tell
        status = sms.statuses(db, [m for r in recipients for m in (r["message_id"], r["resend_message_id"])])
        people = []
        for r in recipients:
            statuses = {status.get(r["message_id"]), status.get(r["resend_message_id"])}
            people.append(
                {
                    "name": r["name"],
                    "number": r["number"],
                    "hamlet": r["hamlet"],
                    "sent": bool(statuses & {"sent", "delivered"}),
                    "delivered": "delivered" in statuses,
                    "confirmed_at": r["confirmed_at"],
                    "resent_at": r["resent_at"],
                    "escalated_at": r["escalated_at"],
                }
            )
        summary = {
            "recipients": len(people),
            "sent": sum(p["sent"] for p in people),
            "delivered": sum(p["delivered"] for p in people),
            "confirmed": sum(p["confirmed_at"] is not None for p in people),
            "resent": sum(p["resent_at"] is not None for p in people),
            "escalated": sum(p["escalated_at"] is not None for p in people),
        }
        return {
            "id": alert_id,
            "text": alert["text"],
            "status": alert["status"],
            "created_at": alert["created_at"],
            "confirm_minutes": alert["confirm_minutes"],
            "summary": summary,
            "recipients": people,
        }
