"""Warnings as the views, the feeds and the scheduler see them: a CAP or a typed bulletin kept, matched to
the commune, sent out at once to the speakers (on the QĐ 18/2021 cadence), the residents' phones and the
hamlet heads, and stopped everywhere by one call."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from broadcasts import people
from broadcasts.announcements import Announcer
from broadcasts.service import Broadcasts
from bulletins import cap, queries
from bulletins.area import CADENCES, Place, Reach, play_offset, reach
from bulletins.config import BulletinsConfig
from bulletins.publish import Publisher
from gateway.core import commune
from gateway.core.clock import Clock
from gateway.core.errors import InvalidRequest, LoaError
from gateway.core.notify import Notifier
from gateway.core.store import Store
from gateway.core.text import fold
from gateway.sms import published as sms
from gateway.sms.encoding import Policy, Prepared, prepare
from gateway.sms.outbox import Outbox
from schedules.scheduler import Job, Scheduler

log = logging.getLogger(__name__)
NO_GRACE = float("inf")  # a warning's play is never too late to give (a missed one is skipped, not replayed)
MAX_LINKS = 100  # CAP documents taken from one feed in one poll
Fetch = Callable[[str], Awaitable[bytes]]  # a URL's body, bounded (the setup's HTTP client)
MAX_TEXT = 2000  # characters of a bulletin's text kept and spoken
HAZARDS = ("bão", "áp thấp nhiệt đới", "lũ", "lũ quét", "sạt lở đất", "mưa lớn", "sóng thần", "động đất", "rét hại",
           "nắng nóng", "cháy rừng", "khác")  # fmt: skip


def _clip(value: Any, limit: int, field: str, *, required: bool = False) -> str:
    text = " ".join(str(value or "").split())
    if required and not text:
        raise InvalidRequest(f"Thiếu '{field}'", field=field)
    if len(text) > limit:
        raise InvalidRequest(f"'{field}' dài quá {limit} ký tự", field=field)
    return text


class Bulletins:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        broadcasts: Broadcasts,
        announcer: Announcer,
        scheduler: Scheduler,
        notifier: Notifier,
        clock: Clock,
        *,
        config: BulletinsConfig,
        commune_name: str,
        timezone: str,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.broadcasts = broadcasts
        self.announcer = announcer
        self.scheduler = scheduler
        self.notifier = notifier
        self.clock = clock
        self.config = config
        self.commune_name = commune_name
        self.tz = ZoneInfo(timezone)
        self._lock = asyncio.Lock()  # the plays being started
        self._dispatch = asyncio.Lock()  # a release's SMS and alert, or a stop: never half of one and the other
        self.publish = Publisher(self)

    def jobs(self) -> list[Job]:
        return [Job("warnings", NO_GRACE, self._next_due, self._run_due)]

    # ---- in ----

    async def receive(self, data: bytes, origin: str = "cap") -> dict[str, Any]:
        """A CAP document: kept (or refused with a clear error), then acted on as its kind says."""
        alert = cap.parse(data)
        now = self.clock()
        existing = await self.store.call(queries.find, alert.sender, alert.identifier)
        if existing is not None:
            return {"id": existing, "duplicate": True, "status": (await self.bulletin(existing))["status"]}
        info = alert.info
        row: dict[str, Any] = {
            "sender": alert.sender[:200], "identifier": alert.identifier[:200], "origin": origin,
            "msg_type": alert.msg_type, "refs": [list(r) for r in alert.references], "issued_at": alert.sent,
            "xml": data.decode("utf-8", "replace"), "created_at": now, "status": "ignored",
        }  # fmt: skip
        if info is not None:
            level = info.level or cap.SEVERITY_LEVEL.get(info.severity, 1)
            urgent = level >= 3 or (info.urgency == "Immediate" and info.severity in ("Extreme", "Severe"))
            row |= {
                "issuer": (info.sender_name or alert.sender)[:200], "hazard": info.event[:200],
                "headline": info.headline[:300], "text": info.description[:MAX_TEXT],
                "instruction": info.instruction[:MAX_TEXT], "level": level, "urgent": int(urgent),
                "cadence": self._cadence(info.event, urgent), "expires_at": info.expires,
            }  # fmt: skip
        stopped: list[int] = []
        if alert.msg_type in ("Update", "Cancel"):
            # a change is a new message naming the old ones: they stop, whatever this one brings
            for sender, identifier in alert.references:
                if sender != alert.sender:
                    continue  # only a sender changes its own messages: a feed cannot cancel another's
                old = await self.store.call(queries.find, sender, identifier)
                if old is not None and await self.stop(old, f"CAP {alert.msg_type}"):
                    stopped.append(old)
        reason = self._refusal(alert, now)
        where: Reach | None = None
        if reason is None and info is not None:
            where = await self._reach(info.areas)
            if not where.anyone:
                reason = f"không thuộc xã ({where.why})"
        if alert.msg_type == "Cancel":
            row |= {"status": "done", "reason": f"huỷ {len(stopped)} bản tin"}
        elif reason is not None:
            row |= {"status": "expired" if reason.startswith("đã hết hạn") else "ignored", "reason": reason}
        elif where is not None:
            row |= {"status": "pending", "reason": where.why, "zones": await self._zone_names(where)}
        bulletin_id = await self.store.call(queries.insert, row)
        if bulletin_id is None:  # the same document posted twice at once: the other one is kept
            found = await self.store.call(queries.find, alert.sender, alert.identifier)
            return {"id": found, "duplicate": True}
        result: dict[str, Any] = {"id": bulletin_id, "status": row["status"], "reason": row.get("reason", "")}
        if stopped:
            result["stopped"] = stopped
        if row["status"] == "pending":
            result |= await self._hold_or_go(bulletin_id, now)
        self.notifier.notify()
        return result

    def _refusal(self, alert: cap.Alert, now: float) -> str | None:
        if alert.status != "Actual":
            return f"không phải bản tin thật (status {alert.status})"
        if alert.scope != "Public":
            return f"không dành cho công chúng (scope {alert.scope})"
        info = alert.info
        if info is None:
            return "không có phần <info>"
        if info.expires is not None and info.expires <= now:
            return "đã hết hạn khi nhận"
        return None

    @staticmethod
    def _cadence(hazard: str, urgent: bool) -> str:
        folded = fold(hazard).lower()
        if "tsunami" in folded or "song than" in folded:
            return "tsunami"
        return "urgent" if urgent else "ordinary"

    async def _reach(self, areas: Sequence[cap.Area]) -> Reach:
        points = await self.store.call(queries.points)
        hamlets = {h.id: (Place(*points[h.id]) if h.id in points else None) for h in await self._hamlets()}
        c = self.config
        centre = Place(c.latitude, c.longitude) if (c.latitude, c.longitude) != (0.0, 0.0) else None
        return reach(areas, c.commune_code, centre, hamlets)

    async def _hamlets(self) -> list[commune.Hamlet]:
        return await self.store.call(commune.hamlets)

    async def _zone_names(self, where: Reach) -> list[str]:
        if where.whole:
            return []
        names = {h.id: h.name for h in await self._hamlets()}
        return [names[i] for i in where.hamlets if i in names]

    async def _hold_or_go(self, bulletin_id: int, now: float) -> dict[str, Any]:
        if self.config.auto_play:
            return await self.release(bulletin_id, "tự động (xã cho phép phát ngay)")
        hold = now + self.config.wait_minutes * 60
        await self.store.call(queries.update, bulletin_id, hold_until=hold)
        self.scheduler.wake()
        return {"hold_until": hold}

    async def manual(self, raw: dict[str, Any], by: str) -> dict[str, Any]:
        """A bulletin received by fax or Zalo, typed by an official: it goes out at once (the official
        who typed it is the one who approves it)."""
        now = self.clock()
        issuer = _clip(raw.get("issuer"), 200, "issuer", required=True)
        hazard = _clip(raw.get("hazard"), 100, "hazard", required=True)
        text = _clip(raw.get("text"), MAX_TEXT, "text", required=True)
        instruction = _clip(raw.get("instruction"), MAX_TEXT, "instruction")
        level = raw.get("level")
        if isinstance(level, str) and level.strip().isdigit():
            level = int(level)
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= 5:
            raise InvalidRequest("Cấp độ rủi ro thiên tai phải từ 1 đến 5 (QĐ 18/2021)", field="level")
        issued = self._moment(raw.get("issued_at"), "issued_at", now)
        if issued > now + 3600:
            raise InvalidRequest("Giờ phát hành ở tương lai", field="issued_at")
        expires = self._moment(raw.get("expires_at"), "expires_at", None) if raw.get("expires_at") else None
        if expires is not None and expires <= now:
            raise InvalidRequest("Giờ hết hiệu lực đã qua", field="expires_at")
        zones = raw.get("hamlets", [])
        if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones) or len(zones) > 200:
            raise InvalidRequest("'hamlets' phải là danh sách tên thôn ([] = cả xã)", field="hamlets")
        known = {h.folded: h.name for h in await self._hamlets()}
        for z in zones:
            await self.store.call(commune.hamlet_id, z)  # a clear error naming the near ones
        zones = list(dict.fromkeys(known.get(commune.fold_name(z), z) for z in zones))
        if set(zones) == set(known.values()):
            zones = []
        urgent = level >= 3
        cadence = raw.get("cadence") or self._cadence(hazard, urgent)
        if cadence not in CADENCES:
            raise InvalidRequest(f"cadence phải là {', '.join(CADENCES)}", field="cadence")
        row = {
            "sender": self.config.sender, "identifier": f"loa-{uuid.uuid4().hex}", "origin": "form",
            "msg_type": "Alert", "status": "pending", "reason": f"nhập tay bởi {by}", "issuer": issuer,
            "hazard": hazard, "headline": _clip(raw.get("headline"), 300, "headline") or f"Cảnh báo {hazard}",
            "text": text, "instruction": instruction, "level": level, "urgent": int(urgent), "cadence": cadence,
            "issued_at": issued, "expires_at": expires, "zones": zones, "created_at": now,
        }  # fmt: skip
        bulletin_id = await self.store.call(queries.insert, row)
        assert bulletin_id is not None
        result = {"id": bulletin_id} | await self.release(bulletin_id, by)
        self.notifier.notify()
        return result

    def _moment(self, value: Any, field: str, default: float | None) -> float:
        if value in (None, ""):
            if default is None:
                raise InvalidRequest(f"Thiếu '{field}'", field=field)
            return default
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            moment = datetime.fromisoformat(str(value)[:40])
        except ValueError:
            raise InvalidRequest(f"'{field}': thời điểm không hợp lệ (ví dụ 2026-12-02T14:00)", field=field) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        return moment.timestamp()

    # ---- out ----

    async def release(self, bulletin_id: int, by: str) -> dict[str, Any]:
        """A held warning goes out now: SMS to the hamlets' people, the heads' alert, the first play."""
        async with self._dispatch:
            sent, alert_id = await self._dispatch_one(bulletin_id, by)
        tasks = await self._plays_due(self.clock())
        self.scheduler.wake()
        self.notifier.notify()
        return {"status": "active", "sms": sent, "alert": alert_id, "plays": len(tasks)}

    async def _dispatch_one(self, bulletin_id: int, by: str) -> tuple[int, int | None]:
        now = self.clock()
        if not await self.store.call(queries.begin, bulletin_id, now):
            raise InvalidRequest("Bản tin không còn chờ phát (đã phát, đã dừng hoặc hết hạn)", field="status")
        b = await self.bulletin(bulletin_id)
        log.warning("warning %d out (%s): %s", bulletin_id, by, b["headline"])
        names = b["zones"] or [h.name for h in await self._hamlets()]
        # as the commune's alerts: a disaster warning reaches those who sent HUY too
        target = {"hamlets": names, "subscribers": True}
        reached = await self.store.call(functools.partial(people.resolve, keep_opted=True), target) if names else []
        numbers = [p.number for p in reached]
        sent = 0
        if numbers:
            sent = len(await self.outbox.enqueue(numbers, self.sms_text(b), priority="alert",
                                                 source=f"bulletin:{bulletin_id}"))  # fmt: skip
        alert_id = None
        try:
            made = await self.broadcasts.create_alert(
                {"text": self.heads_text(b), "to": {"hamlets": names, "roles": ["hamlet_head"]}}
            )
            alert_id = made["id"]
        except LoaError as e:  # no hamlet head on file: the rest goes on
            log.warning("warning %d: no hamlet heads' alert: %s", bulletin_id, e.message)
        await self.store.call(queries.update, bulletin_id, sms=sent, alert_id=alert_id, reason=b["reason"] or by)
        return sent, alert_id

    def issue_words(self, issued_at: float) -> str:
        """ "Bản tin phát lúc 14 giờ ngày 2 tháng 12" (with the minutes when there are any)."""
        t = datetime.fromtimestamp(issued_at, self.tz)
        minutes = f" {t.minute} phút" if t.minute else ""
        return f"Bản tin phát lúc {t.hour} giờ{minutes} ngày {t.day} tháng {t.month}"

    def speech(self, b: dict[str, Any]) -> str:
        where = f"các thôn {', '.join(b['zones'])}" if b["zones"] else f"toàn {self.commune_name}"
        parts = [
            f"Thông báo khẩn cấp cho {where}." if b["urgent"] else f"Thông báo cho {where}.",
            f"{self.issue_words(b['issued_at'])}, của {b['issuer']}.",
            f"Cấp độ rủi ro thiên tai cấp {b['level']}." if b["level"] else "",
            b["headline"] + ".", b["text"], b["instruction"],
        ]  # fmt: skip
        text = " ".join(p for p in parts if p and p != ".")
        limit = self.announcer.renderer.config.max_text
        return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

    def sms_text(self, b: dict[str, Any]) -> Prepared:
        """Short, the issue time always in it, folded when the commune counts the cost."""
        t = datetime.fromtimestamp(b["issued_at"], self.tz)
        head = f"CẢNH BÁO {b['hazard'].upper()} cấp {b['level']}: " if b["level"] else "CẢNH BÁO: "
        tail = f" (Bản tin {t:%H}h{t:%M} {t.day}/{t.month}, {b['issuer']})"
        body = " ".join(x for x in (b["headline"] + ".", b["instruction"] or b["text"]) if x)
        policy: Policy = "gsm7" if self.config.sms_fold else "auto"
        body = body[: 160 * self.config.sms_segments]  # never more than the segments could hold
        while True:
            prepared = prepare((head + body + tail).replace("…", "..."), policy)
            if prepared.segments <= self.config.sms_segments or len(body) < 20:
                return prepared
            body = body[: max(19, int(len(body) * 0.9))].rstrip() + "..."  # GSM-7 has no "…"

    def heads_text(self, b: dict[str, Any]) -> str:
        t = datetime.fromtimestamp(b["issued_at"], self.tz)
        what = b["instruction"] or b["headline"]
        text = f"Cảnh báo {b['hazard']} cấp {b['level']} ({t:%H}h{t:%M} {t.day}/{t.month}): {what}"
        return text[:300] + " Đọc loa và báo bà con trong thôn."

    # ---- the scheduler ----

    async def _next_due(self) -> float | None:
        return await self.store.call(queries.next_due)

    async def _run_due(self, now: float, grace: float) -> Sequence[asyncio.Task[None]]:
        for bulletin_id in await self.store.call(queries.expiring, now):
            await self.stop(bulletin_id, "hết hiệu lực", status="expired")
        for bulletin_id in await self.store.call(queries.held_due, now):
            try:
                await self.release(bulletin_id, f"tự động sau {self.config.wait_minutes:g} phút chờ")
            except LoaError as e:
                log.warning("warning %d not released: %s", bulletin_id, e.message)
        return await self._plays_due(now)

    async def _plays_due(self, now: float) -> list[asyncio.Task[None]]:
        # one at a time: the scheduler and a release (or two releases) must not both take the same play
        async with self._lock:
            tasks: list[asyncio.Task[None]] = []
            for b in await self.store.call(queries.plays_due, now):
                try:
                    tasks += await self._play(b, now)
                except Exception:
                    # logged, and the cadence goes on: the next play is tried at its time
                    log.exception("warning %d: play %d could not start", b["id"], b["plays"])
                    await self.store.call(queries.record_play, b["id"], b["plays"], now, None, self._next(b, now))
            return tasks

    async def _play(self, b: dict[str, Any], now: float) -> list[asyncio.Task[None]]:
        priority = "khan_cap" if b["urgent"] else "uu_tien"
        made = await self.announcer.create({"text": self.speech(b), "priority": priority, "zones": b["zones"],
                                            "repeat": 1})  # fmt: skip
        before = set(self.announcer._plays)
        await self.announcer.approve_now(made["id"])
        started = [t for t in self.announcer._plays if t not in before]
        await self.store.call(queries.record_play, b["id"], b["plays"], now, made["id"], self._next(b, now))
        return started

    def _next(self, b: dict[str, Any], now: float) -> float | None:
        """The next play on the cadence after now; a play missed (the Pi was off) is not made up."""
        end = b["expires_at"] or (b["first_play_at"] + self.config.default_hours * 3600)
        n = b["plays"] + 1
        offset = play_offset(b["cadence"], n)
        while offset is not None and b["first_play_at"] + offset <= now:
            n += 1
            offset = play_offset(b["cadence"], n)
        return None if offset is None or b["first_play_at"] + offset >= end else b["first_play_at"] + offset

    # ---- stop ----

    async def stop(self, bulletin_id: int, by: str, status: str = "stopped") -> bool:
        """Everything this warning still does, stopped: the play on the air, the repeats, the SMS not
        yet sent, the heads' alert's re-sends. True when it was still live."""
        # after a release under way has queued its SMS and started its play: then all of it is stopped
        async with self._dispatch, self._lock:
            return await self._stop(bulletin_id, by, status)

    async def _stop(self, bulletin_id: int, by: str, status: str) -> bool:
        before = await self.store.call(queries.stop, bulletin_id, by, self.clock(), status)
        if before["status"] not in queries.LIVE:
            return False
        for play in await self.store.call(queries.plays, bulletin_id):
            if play["announcement_id"] is not None:
                await self.announcer.stop(play["announcement_id"])
        sources = [f"bulletin:{bulletin_id}"]
        if before["alert_id"] is not None:
            sources += [f"alert:{before['alert_id']}", f"alert:{before['alert_id']}:escalation"]
            await self.broadcasts.close_alert(before["alert_id"])
        cancelled = await self.store.call(sms.cancel_queued, sources, self.clock())
        log.warning("warning %d stopped by %s: %d SMS not sent", bulletin_id, by, cancelled)
        self.scheduler.wake()
        self.notifier.notify()
        return True

    async def stop_all(self, by: str) -> list[int]:
        stopped = []
        for b in await self.store.call(queries.recent, 500):
            if b["status"] in queries.LIVE and await self.stop(b["id"], by):
                stopped.append(b["id"])
        return stopped

    # ---- what the pages show ----

    async def bulletin(self, bulletin_id: int) -> dict[str, Any]:
        return await self.store.call(queries.row, bulletin_id)

    async def board(self, bulletin_id: int) -> dict[str, Any]:
        """A warning with what went where: its SMS by status, the heads' confirmations, its plays."""
        b = await self.bulletin(bulletin_id)
        b.pop("xml", None)

        def sms_statuses(db: Any) -> dict[str, int]:
            rows = sms.history(db, 0, float("inf"), source=f"bulletin:{bulletin_id}", limit=100000)
            counts: dict[str, int] = {}
            for r in rows:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
            return counts

        b["sms_status"] = await self.store.call(sms_statuses)
        b["heads"] = (await self.broadcasts.board(b["alert_id"]))["summary"] if b["alert_id"] else None
        b["play_log"] = await self.store.call(queries.plays, bulletin_id)
        b["cadence_words"] = CADENCES.get(b["cadence"] or "", "")
        return b

    async def recent(self, limit: int = 30) -> list[dict[str, Any]]:
        return [await self.board(b["id"]) for b in await self.store.call(queries.recent, limit)]

    async def points(self) -> list[dict[str, Any]]:
        found = await self.store.call(queries.points)
        return [{"id": h.id, "name": h.name, "lat": found.get(h.id, (None, None))[0],
                 "lon": found.get(h.id, (None, None))[1]} for h in await self._hamlets()]  # fmt: skip

    async def set_point(self, hamlet_id: int, lat: float | None, lon: float | None) -> None:
        if hamlet_id not in {h.id for h in await self._hamlets()}:
            raise InvalidRequest(f"Không có thôn số {hamlet_id}", field="hamlet")
        await self.store.call(queries.set_point, hamlet_id, lat, lon)

    # ---- feeds ----

    async def poll_feeds(self, fetch: Fetch) -> dict[str, int]:
        """Every configured feed read once; each CAP it links to that was not fetched before, taken in.
        One feed or document failing is logged and the rest go on."""
        counts = {"links": 0, "taken": 0, "failed": 0}
        for url in self.config.feeds:
            try:
                links = cap.feed_links(await fetch(url))
            except Exception as e:
                log.warning("warning feed %s unreadable: %s", url, getattr(e, "message", e))
                counts["failed"] += 1
                continue
            for link in links[:MAX_LINKS]:
                if await self.store.call(queries.seen, link, self.clock()):
                    continue
                counts["links"] += 1
                try:
                    await self.receive(await fetch(link), origin="feed")
                    counts["taken"] += 1
                except Exception as e:
                    log.warning("CAP %s from feed %s refused: %s", link, url, getattr(e, "message", e))
                    counts["failed"] += 1
        return counts

    async def poll_forever(self, fetch: Fetch) -> None:
        while True:
            try:
                await self.poll_feeds(fetch)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling the warning feeds failed; trying again later")
            await asyncio.sleep(self.config.poll_minutes * 60)
