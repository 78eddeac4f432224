"""Loudspeaker announcements: draft → scheduled (at approval) → done, played on time, logged as proof."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from audio.render import RATE, Renderer
from broadcasts import levels
from gateway.core.clock import Clock
from gateway.core.commune import hamlet_id, hamlets
from gateway.core.errors import Forbidden, InvalidRequest, LimitReached, NotFound
from gateway.core.notify import Notifier
from gateway.core.principal import User
from gateway.core.priority import AUDIO
from gateway.core.store import Store, transaction
from schedules.recurrence import Rule, RuleError, parse_rule
from schedules.scheduler import Job, Scheduler
from station.outputs import Item
from station.station import Station

log = logging.getLogger(__name__)
PLAY_AT_APPROVAL = json.dumps({"now": True})
ON_TIME = 5.0  # seconds: a play that starts later than this is logged as late


def _date(value: Any, field: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise InvalidRequest(f"{field}: ngày không hợp lệ {value!r} (ví dụ 2026-12-31)", field=field) from None


WEEKDAY_NAMES = {"mon": "thứ Hai", "tue": "thứ Ba", "wed": "thứ Tư", "thu": "thứ Năm", "fri": "thứ Sáu",
                 "sat": "thứ Bảy", "sun": "Chủ nhật"}  # fmt: skip
_DAY_NAMES = ["thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật"]
WEEK = 7 * 86400.0


def _vn_date(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%d/%m/%Y")


def describe(when: dict[str, Any], starts_on: str | None, ends_on: str | None, zones: list[str], tz: ZoneInfo) -> str:
    """What an announcement will do, in the words an official checks before approving it:
    "Phát 06:30 mỗi thứ Hai, từ 30/11/2026, ở thôn Nà Phìn"."""
    if when.get("now"):
        text = "Phát ngay khi duyệt"
    elif when.get("at") is not None:
        moment = datetime.fromtimestamp(float(when["at"]), tz)
        text = f"Phát một lần lúc {moment:%H:%M} {_DAY_NAMES[moment.weekday()]} {moment:%d/%m/%Y}"
    else:
        cron = str(when.get("cron", ""))
        parts = cron.split()
        if len(parts) == 5 and parts[0].isdigit() and parts[1].isdigit() and parts[3] == "*":
            at = f"{int(parts[1]):02d}:{int(parts[0]):02d}"
            if parts[2] == "*" and parts[4] != "*":
                days = [WEEKDAY_NAMES.get(d, d) for d in parts[4].split(",")]
                text = f"Phát {at} mỗi {', '.join(days)}"
            elif parts[2].isdigit() and parts[4] == "*":
                text = f"Phát {at} ngày {int(parts[2])} hằng tháng"
            elif parts[2] == "*" and parts[4] == "*":
                text = f"Phát {at} mỗi ngày"
            else:
                text = f"Phát theo lịch đặt qua API ({cron})"
        else:
            text = f"Phát theo lịch đặt qua API ({cron})"
        if starts_on:
            text += f", từ {_vn_date(starts_on)}"
        if ends_on:
            text += f", đến hết {_vn_date(ends_on)}"
    return text + (f", ở thôn {', '.join(zones)}" if zones else ", cả xã")


# a state said in words, for a draft that someone else approved or cancelled meanwhile
STATUS_WORDS = {"scheduled": "đã được duyệt và lên lịch", "cancelled": "đã bị huỷ", "done": "đã phát xong",
                "playing": "đang phát", "failed": "đã lỗi"}  # fmt: skip


class Announcer:
    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        station: Station,
        scheduler: Scheduler,
        notifier: Notifier,
        clock: Clock,
        *,
        timezone: str,
        repeat: int,
        grace: float,
    ) -> None:
        self.store = store
        self.renderer = renderer
        self.station = station
        self.scheduler = scheduler
        self.notifier = notifier
        self.clock = clock
        self.tz = ZoneInfo(timezone)
        self.repeat = repeat
        self.grace = grace
        self._plays: set[asyncio.Task[None]] = set()

    def jobs(self) -> list[Job]:
        return [Job("announcements", self.grace, self._next_play, self._start_due, by_the_clock=True)]

    # ---- store functions ----

    def _validate(self, db: sqlite_utils.Database, raw: dict[str, Any], now: float) -> dict[str, Any]:
        text = raw.get("text")
        clip = raw.get("clip")
        if (text is None) == (clip is None):
            raise InvalidRequest("Cần 'text' hoặc 'clip' (một trong hai)", field="text")
        if not isinstance(text if clip is None else clip, str):
            raise InvalidRequest(
                "'text' / 'clip' phải là chuỗi (must be a string)", field="text" if clip is None else "clip"
            )
        priority = raw.get("priority", "thuong")
        if not isinstance(priority, str) or priority not in AUDIO:
            raise InvalidRequest(f"priority phải là {', '.join(AUDIO)}", field="priority")
        repeat = raw.get("repeat", self.repeat)
        if not isinstance(repeat, int) or not 1 <= repeat <= 5:
            raise InvalidRequest("repeat phải từ 1 đến 5", field="repeat")
        zones = raw.get("zones", [])
        if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
            raise InvalidRequest("zones phải là danh sách tên thôn ([] = cả xã)", field="zones")
        for z in zones:
            try:
                hamlet_id(db, z)
            except InvalidRequest as e:
                raise InvalidRequest(e.message, field="zones") from None
        try:
            when = raw.get("when", "now")
            # "now" is the moment of approval, not of the draft: it is fixed when approved
            rule = PLAY_AT_APPROVAL if when in (None, "now") else json.dumps(parse_rule(when, now, self.tz).as_json())
        except RuleError as e:
            raise InvalidRequest(str(e), field="when") from None
        return {
            "text": text,
            "clip": clip,
            "repeat": repeat,
            "priority": priority,
            "zones": json.dumps(zones, ensure_ascii=False),
            "rule": rule,
            "starts_on": _date(raw.get("starts_on"), "starts_on"),
            "ends_on": _date(raw.get("ends_on"), "ends_on"),
        }

    def _insert(self, db: sqlite_utils.Database, row: dict[str, Any]) -> int:
        with transaction(db):
            cur = db.execute(
                "insert into announcements (text, clip, repeat, priority, zones, rule, starts_on, ends_on, status,"
                " audio_key, seconds, created_at, created_by) values (:text, :clip, :repeat, :priority, :zones, :rule,"
                " :starts_on, :ends_on, 'draft', :audio_key, :seconds, :created_at, :created_by)",
                row,
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def get(self, db: sqlite_utils.Database, announcement_id: int) -> dict[str, Any]:
        rows = list(db.query("select * from announcements where id=?", [announcement_id]))
        if not rows:
            raise NotFound(f"Không có thông báo số {announcement_id}", id=announcement_id)
        return self._json(rows[0])

    def _json(self, r: dict[str, Any]) -> dict[str, Any]:
        return r | {"zones": json.loads(r["zones"]), "when": json.loads(r["rule"]), "rule": None}

    def all(self, db: sqlite_utils.Database) -> list[dict[str, Any]]:
        return [self._json(r) for r in db.query("select * from announcements order by id desc limit 200")]

    def log(
        self, db: sqlite_utils.Database, limit: int, day: tuple[float, float] | None = None
    ) -> list[dict[str, Any]]:
        """The newest plays; with `day` (start, end), those planned in it."""
        if day is None:
            rows = db.query("select * from broadcast_log order by id desc limit ?", [limit])
        else:
            rows = db.query(
                "select * from broadcast_log where planned_at>=? and planned_at<? order by planned_at desc limit ?",
                [*day, limit],
            )
        return [r | {"zones": json.loads(r["zones"] or "[]"), "lines": json.loads(r["lines"] or "null")} for r in rows]

    def week(self, db: sqlite_utils.Database, now: float) -> list[dict[str, Any]]:
        """Every play of the next seven days, in order: what the loudspeakers will say when."""
        plays = []
        for row in db.query("select * from announcements where status='scheduled' and next_play_at is not null"):
            t: float | None = float(row["next_play_at"])
            for _ in range(64):  # a rule every minute would be 10,080 a week: the page shows the first ones
                if t is None or t >= now + WEEK:
                    break
                if row["ends_on"] and self._day(t) > row["ends_on"]:
                    break
                plays.append({"at": t, "id": row["id"], "text": row["text"], "zones": json.loads(row["zones"] or "[]"),
                              "priority": row["priority"]})  # fmt: skip
                t = self._first_play(row, t)
        return sorted(plays, key=lambda p: (p["at"], p["id"]))

    def update_draft(self, db: sqlite_utils.Database, announcement_id: int, row: dict[str, Any]) -> None:
        with transaction(db):
            current = self.get(db, announcement_id)
            if current["status"] != "draft":
                raise InvalidRequest("Chỉ sửa được bản nháp; thông báo đã duyệt thì huỷ rồi soạn lại", field="status")
            db.execute(
                "update announcements set text=:text, clip=:clip, repeat=:repeat, priority=:priority, zones=:zones,"
                " rule=:rule, starts_on=:starts_on, ends_on=:ends_on, audio_key=:audio_key, seconds=:seconds"
                " where id=:id",
                row | {"id": announcement_id},
            )

    def upcoming(self, db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
        return list(
            db.query(
                "select id, text, next_play_at, zones from announcements where status='scheduled'"
                " order by next_play_at limit ?",
                [limit],
            )
        )

    def _first_play(self, row: dict[str, Any], after: float) -> float | None:
        rule = Rule(**json.loads(row["rule"]))
        t = rule.next_after(after, self.tz)
        while t is not None and row["starts_on"] and self._day(t) < row["starts_on"]:
            t = rule.next_after(t, self.tz)
        if t is not None and row["ends_on"] and self._day(t) > row["ends_on"]:
            return None
        return t

    def _day(self, t: float) -> str:
        return datetime.fromtimestamp(t, self.tz).date().isoformat()

    def approve(self, db: sqlite_utils.Database, announcement_id: int, now: float) -> dict[str, Any]:
        with transaction(db):
            rows = list(db.query("select * from announcements where id=?", [announcement_id]))
            if not rows:
                raise NotFound(f"Không có thông báo số {announcement_id}", id=announcement_id)
            if rows[0]["status"] != "draft":
                said = STATUS_WORDS.get(rows[0]["status"], rows[0]["status"])
                raise InvalidRequest(f"Thông báo số {announcement_id} {said} nên không duyệt được nữa.", field="status")
            row = rows[0]
            if row["rule"] == PLAY_AT_APPROVAL:
                row["rule"] = json.dumps(Rule(at=now).as_json())
                db.execute("update announcements set rule=? where id=?", [row["rule"], announcement_id])
            first = self._first_play(row, now - 1)
            if first is None:
                raise InvalidRequest("Không còn lần phát nào trong khoảng ngày đã chọn", field="when")
            db.execute(
                "update announcements set status='scheduled', approved_at=?, next_play_at=? where id=?",
                [now, first, announcement_id],
            )
        return self.get(db, announcement_id)

    def cancel(self, db: sqlite_utils.Database, announcement_id: int) -> None:
        with transaction(db):
            self.get(db, announcement_id)
            db.execute(
                "update announcements set status='cancelled', next_play_at=null where id=? and status in"
                " ('draft','scheduled')",
                [announcement_id],
            )

    def next_play_at(self, db: sqlite_utils.Database) -> float | None:
        row = db.execute("select min(next_play_at) from announcements where status='scheduled'").fetchone()
        return None if row[0] is None else float(row[0])

    def take_due(self, db: sqlite_utils.Database, now: float, grace: float) -> list[dict[str, Any]]:
        """Plays due now; occurrences missed (a power cut) beyond the grace window are logged as missed."""
        out = []
        with transaction(db):
            rows = list(db.query("select * from announcements where status='scheduled' and next_play_at<=?", [now]))
            for row in rows:
                planned = row["next_play_at"]
                due: list[float] = []
                t: float | None = planned
                try:
                    while t is not None and t <= now:
                        due.append(t)
                        t = self._first_play(row, t)
                except Exception as e:
                    # one bad row never stops the others: logged failed, taken off the schedule
                    log.exception("announcement %s cannot be scheduled", row["id"])
                    db.execute(
                        "insert into broadcast_log (announcement_id, planned_at, audio_key, zones, relay, result,"
                        " error) values (?,?,?,?,'','failed',?)",
                        [row["id"], planned, row["audio_key"], row["zones"], f"lịch phát hỏng: {e!r}"[:500]],
                    )
                    db.execute("update announcements set status='failed', next_play_at=null where id=?", [row["id"]])
                    continue
                *missed, last = due
                if now - last > grace:
                    missed.append(last)
                else:
                    out.append({**row, "planned_at": last})
                for m in missed:
                    db.execute(
                        "insert into broadcast_log (announcement_id, planned_at, audio_key, zones, relay, result,"
                        " error) values (?,?,?,?,'',?,?)",
                        [row["id"], m, row["audio_key"], row["zones"], "missed",
                         f"máy tắt hoặc bận: quá {grace:.0f} s sau giờ phát"],
                    )  # fmt: skip
                db.execute(
                    "update announcements set next_play_at=?, status=? where id=?",
                    [t, "scheduled" if t is not None else "done", row["id"]],
                )
        return sorted(out, key=lambda r: (AUDIO[r["priority"]], r["planned_at"], r["rank"] or r["id"]))

    def _recover(self, db: sqlite_utils.Database) -> int:
        """Rows left 'playing' by a power cut: the play's end is unknown, and the log says so."""
        with transaction(db):
            return db.execute(
                "update broadcast_log set result='unknown', error='mất điện khi đang phát (power lost while playing)',"
                " relay=case when relay='' then 'off (at start)' else relay || '→off (at start)' end"
                " where result='playing'"
            ).rowcount

    def _overview(
        self, db: sqlite_utils.Database, now: float, limit: int, day: tuple[float, float] | None
    ) -> dict[str, Any]:
        return {
            "items": self.all(db),
            "log": self.log(db, limit, day),
            "week": self.week(db, now),
            "hamlets": [h.name for h in hamlets(db)],
        }

    # ---- what the views and the scheduler call ----

    async def create(self, raw: dict[str, Any], by: User | None = None) -> dict[str, Any]:
        """A draft, rendered; `by` a hamlet head, only for their own hamlet."""
        if by is not None and by.is_head and raw.get("zones") != [by.hamlet]:
            raise Forbidden(f"Trưởng thôn chỉ được thông báo cho thôn {by.hamlet}", field="zones")
        now = self.clock()
        row = await self.store.call(self._validate, raw, now)
        owner = by.username if by is not None else None
        await self._within_quota(owner)
        recipe = self.renderer.recipe(text=row["text"], clip_sha=row["clip"], repeat=row["repeat"])
        rendered = await self.renderer.render(recipe)
        row |= {"audio_key": rendered.key, "seconds": rendered.seconds, "created_at": now, "created_by": owner}
        announcement_id = await self.store.call(self._insert, row)
        return await self.store.call(self.get, announcement_id)

    async def edit(self, announcement_id: int, raw: dict[str, Any]) -> dict[str, Any]:
        """A draft changed: checked and rendered again like a new one; it stays a draft."""
        row = await self.store.call(self._validate, raw, self.clock())
        recipe = self.renderer.recipe(text=row["text"], clip_sha=row["clip"], repeat=row["repeat"])
        rendered = await self.renderer.render(recipe)
        row |= {"audio_key": rendered.key, "seconds": rendered.seconds}
        await self.store.call(self.update_draft, announcement_id, row)
        return await self.store.call(self.get, announcement_id)

    async def announcement(self, announcement_id: int) -> dict[str, Any]:
        return await self.store.call(self.get, announcement_id)

    async def draft(self, announcement_id: int) -> dict[str, Any]:
        """An announcement to edit: refused unless it is still a draft."""
        item = await self.store.call(self.get, announcement_id)
        if item["status"] != "draft":
            said = STATUS_WORDS.get(item["status"], item["status"])
            raise InvalidRequest(
                f"Thông báo số {announcement_id} {said}: chỉ sửa được bản nháp. Hãy soạn bản mới nếu cần.",
                field="status",
            )
        return item

    async def overview(self, log_day: date | None = None, log_limit: int = 50) -> dict[str, Any]:
        """The announcements page in one read: every announcement with its plan, the plays of a day
        (else the newest), the plays of the week ahead and the hamlets to choose from."""
        found = await self.store.call(self._overview, self.clock(), log_limit, self._bounds(log_day))
        for item in found["items"]:
            item["plan"] = self.describe(item)
        return found

    async def store_clip(self, data: bytes) -> str:
        """An uploaded recording kept for announcements to play; its hash is what `clip` names."""
        return await self.renderer.store_clip(data)

    async def preview(self, key: str, fmt: str = "mp3") -> Path:
        """A render as the browser plays it."""
        return await self.renderer.preview(key, fmt)

    def describe(self, item: dict[str, Any]) -> str:
        text = describe(item["when"], item["starts_on"], item["ends_on"], item["zones"], self.tz)
        alone = self.station.plays_everywhere(item["zones"])
        if item["zones"] and alone:
            text += f". Thôn {', '.join(alone)} không có đường loa riêng: thông báo sẽ phát ở mọi loa của xã"
        return text

    async def approve_now(self, announcement_id: int) -> dict[str, Any]:
        """Approved; a play due now (khẩn cấp, "play now") starts before this returns."""
        now = self.clock()
        result = await self.store.call(self.approve, announcement_id, now)
        await self._start_due(now, self.grace)
        self.scheduler.wake()
        return result

    async def planned(self) -> list[dict[str, Any]]:
        """Every announcement with its plan in words."""
        return [item | {"plan": self.describe(item)} for item in await self.store.call(self.all)]

    async def move(self, announcement_id: int, direction: str) -> list[dict[str, Any]]:
        """An ưu tiên item one place up or down in the order the station plays them."""
        return await self.store.call(levels.move, announcement_id, direction)

    async def priority_order(self) -> list[dict[str, Any]]:
        return await self.store.call(levels.ranked)

    async def cancel_announcement(self, announcement_id: int) -> None:
        await self.store.call(self.cancel, announcement_id)
        self.scheduler.wake()

    async def stop(self, announcement_id: int) -> None:
        """Cancelled, and its play cut if it is on the air now (the relay switched off, logged 'stopped')."""
        await self.cancel_announcement(announcement_id)
        playing = [t for t in self._plays if t.get_name() == f"announcement-{announcement_id}"]
        for task in playing:
            task.cancel()
        if playing:
            await asyncio.wait(playing, timeout=5.0)

    async def _within_quota(self, owner: str | None) -> None:
        """One account's drafts may hold at most [audio] draft_quota_mb of renders (16-bit mono)."""
        if owner is None:
            return

        def used(db: sqlite_utils.Database) -> float:
            row = db.execute(
                "select coalesce(sum(seconds), 0) from announcements where status='draft' and created_by=?", [owner]
            ).fetchone()
            return float(row[0]) * RATE * 2 / 2**20

        quota = self.renderer.config.draft_quota_mb
        mb = await self.store.call(used)
        if mb >= quota:
            raise LimitReached(
                f"Các bản nháp của bạn đã dùng {mb:.0f} MB âm thanh (tối đa {quota} MB): duyệt hoặc huỷ bớt bản nháp"
                " rồi soạn tiếp",
                field="text",
                limit=quota,
            )

    async def expire_drafts(self, now: float) -> int:
        """Drafts nobody approved within [audio] draft_days cancelled: their renders may be pruned."""
        before = now - self.renderer.config.draft_days * 86400

        def expire(db: sqlite_utils.Database) -> int:
            with transaction(db):
                cur = db.execute(
                    "update announcements set status='cancelled' where status='draft' and created_at < ?", [before]
                )
            return int(cur.rowcount)

        return await self.store.call(expire)

    async def audio_in_use(self) -> set[str]:
        """The renders drafts and scheduled announcements will play: never pruned from the cache."""

        def keys(db: sqlite_utils.Database) -> set[str]:
            rows = db.execute("select audio_key from announcements where status in ('draft', 'scheduled')")
            return {r[0] for r in rows if r[0]}

        return await self.store.call(keys)

    async def upcoming_plays(self, limit: int) -> list[dict[str, Any]]:
        rows = await self.store.call(self.upcoming, limit)
        return [r | {"zones": json.loads(r["zones"] or "[]")} for r in rows]

    async def broadcast_log(self, limit: int, day: date | None = None) -> list[dict[str, Any]]:
        return await self.store.call(self.log, limit, self._bounds(day))

    def _bounds(self, day: date | None) -> tuple[float, float] | None:
        if day is None:
            return None
        start = datetime.combine(day, datetime.min.time(), self.tz).timestamp()
        return start, start + 86400

    async def recover(self) -> None:
        """At start (the relay already switched off): plays a power cut left 'playing' are logged
        'unknown', with the relay's switching off at start."""
        cut = await self.store.call(self._recover)
        if cut:
            log.warning("%d play(s) cut by a power failure logged as unknown", cut)

    async def _next_play(self) -> float | None:
        return await self.store.call(self.next_play_at)

    async def _start_due(self, now: float, grace: float) -> Sequence[asyncio.Task[None]]:
        started = []
        for row in await self.store.call(self.take_due, now, grace):
            task = asyncio.create_task(self._play(row, now), name=f"announcement-{row['id']}")
            self._plays.add(task)
            task.add_done_callback(self._plays.discard)
            started.append(task)
        return started

    async def _play(self, row: dict[str, Any], now: float) -> None:
        wav = self.renderer.cache / f"{row['audio_key']}.wav"
        late = now - row["planned_at"] > ON_TIME

        def start(db: sqlite_utils.Database) -> int:
            with transaction(db):
                cur = db.execute(
                    "insert into broadcast_log (announcement_id, planned_at, started_at, audio_key, zones, relay,"
                    " result) values (?,?,?,?,?,'','playing')",
                    [row["id"], row["planned_at"], self.clock(), row["audio_key"], row["zones"]],
                )
            assert cur.lastrowid is not None
            return cur.lastrowid

        log_id = await self.store.call(start)
        zones = json.loads(row["zones"] or "[]")
        lines = self.station.lines_for(zones)

        def set_relay(db: sqlite_utils.Database, state: str) -> None:
            # which hamlets' lines go on is logged with the amplifier's "on", before the sound starts
            with transaction(db):
                db.execute(
                    "update broadcast_log set relay=?, lines=? where id=?",
                    [state, None if lines is None else json.dumps(lines, ensure_ascii=False), log_id],
                )

        async def relay_state(state: str) -> None:
            await self.store.call(set_relay, state)

        try:
            if not wav.exists():  # the cache was cleared: render again from the recipe
                recipe = self.renderer.recipe(text=row["text"], clip_sha=row["clip"], repeat=row["repeat"])
                wav = (await self.renderer.render(recipe)).wav
            item = Item(wav, AUDIO[row["priority"]], tuple(zones), "announcement", row["id"],
                        row["text"] or "(ghi âm)", row["priority"])  # fmt: skip
            outcome = await self.station.broadcast(
                wav,
                AUDIO[row["priority"]],
                on_relay=relay_state,
                zones=zones,
                item=item,
                order=row["rank"] or row["id"],
            )
            result, relay, error = outcome.result, outcome.relay, outcome.error
        except asyncio.CancelledError:
            # stopped by an official (or shutting down): the log says so, the relay is off already
            def stopped(db: sqlite_utils.Database) -> None:
                with transaction(db):
                    db.execute(
                        "update broadcast_log set ended_at=?, result='stopped', error='dừng giữa chừng (stopped)'"
                        " where id=?",
                        [self.clock(), log_id],
                    )

            await self.store.call(stopped)
            raise
        except Exception as e:
            log.exception("announcement %s could not play", row["id"])
            result, relay, error = "failed", "", str(e)
        if result == "played" and late:
            result = "late"

        def finish(db: sqlite_utils.Database) -> None:
            with transaction(db):
                db.execute(
                    "update broadcast_log set ended_at=?, relay=?, result=?, error=? where id=?",
                    [self.clock(), relay, result, error, log_id],
                )

        await self.store.call(finish)
        self.notifier.notify()

    async def close(self) -> None:
        plays = list(self._plays)
        for task in plays:
            task.cancel()
        if plays:
            # bounded: a stop never hangs on a play (its relay is switched off at the next start anyway)
            _, pending = await asyncio.wait(plays, timeout=5.0)
            for task in pending:
                log.warning("play %s did not stop when cancelled", task.get_name())
