"""The relay schedule: the provincial (or national) programme on chosen hamlets at fixed hours, for a
duration, with its fallback; run by the one scheduler, each relay played through the station."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlite_utils

from gateway.core.clock import Clock
from gateway.core.commune import fold_name, hamlet_id, hamlets
from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.notify import Notifier
from gateway.core.priority import AUDIO
from gateway.core.store import Store, transaction
from station.outputs import Item, Proof
from station.relay import LiveSource
from station.station import Station

log = logging.getLogger(__name__)
RESUME_AT_LEAST = 5.0  # seconds of the slot left for an interrupted relay to come back


def next_time(times: list[str], after: float, tz: ZoneInfo) -> float:
    """The first of the daily `times` ("05:00") strictly after `after`."""
    day = datetime.fromtimestamp(after, tz).date()
    for d in range(2):
        for t in sorted(times):
            h, m = (int(x) for x in t.split(":"))
            moment = datetime.combine(day + timedelta(days=d), datetime.min.time(), tz).replace(hour=h, minute=m)
            if moment.timestamp() > after:
                return moment.timestamp()
    raise AssertionError("a daily time always comes within two days")


def validate(db: sqlite_utils.Database, raw: Any, clips: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise InvalidRequest("Cần một đối tượng JSON", field="body")
    name, url = raw.get("name"), raw.get("url")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
        raise InvalidRequest("name: tên chương trình, 1–100 ký tự", field="name")
    if not isinstance(url, str) or len(url) > 500 or not re.fullmatch(r"https?://[^\s]+", url):
        raise InvalidRequest("url: địa chỉ luồng http(s)://… (Icecast, .m3u)", field="url")
    zones = raw.get("zones", [])
    if not isinstance(zones, list) or len(zones) > 100 or not all(isinstance(z, str) for z in zones):
        raise InvalidRequest("zones phải là danh sách tên thôn ([] = cả xã)", field="zones")
    for z in zones:
        hamlet_id(db, z)
    times = raw.get("times")
    if (not isinstance(times, list) or not 1 <= len(times) <= 12
            or not all(isinstance(t, str) and re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t) for t in times)):  # fmt: skip
        raise InvalidRequest('times: giờ phát hằng ngày, ví dụ ["05:00", "17:00"]', field="times")
    minutes, silence = raw.get("minutes", 30), raw.get("silence", 10)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 240:
        raise InvalidRequest("minutes: 1–240 phút", field="minutes")
    if not isinstance(silence, int) or isinstance(silence, bool) or not 3 <= silence <= 300:
        raise InvalidRequest("silence: 3–300 giây im lặng thì phát dự phòng", field="silence")
    fallback = raw.get("fallback", "")
    if not isinstance(fallback, str) or (fallback and not re.fullmatch(r"[0-9a-f]{64}", fallback)):
        raise InvalidRequest("fallback: mã bản ghi (POST /api/v1/clips) hoặc bỏ trống", field="fallback")
    if fallback and not (clips / f"{fallback}.wav").exists():
        raise InvalidRequest("fallback: không có bản ghi này", field="fallback")
    level = raw.get("level", "thuong")
    if level not in ("thuong", "uu_tien"):
        raise InvalidRequest("level: thuong hoặc uu_tien (khẩn cấp là thông báo, không phải tiếp sóng)", field="level")
    names = {h.folded: h.name for h in hamlets(db)}
    return {"name": name.strip(), "url": url, "zones": json.dumps([names[fold_name(z)] for z in zones],
            ensure_ascii=False), "times": json.dumps(sorted(set(times))), "minutes": minutes, "silence": silence,
            "fallback": fallback, "level": level}  # fmt: skip


def _json(r: dict[str, Any]) -> dict[str, Any]:
    return r | {"zones": json.loads(r["zones"]), "times": json.loads(r["times"]), "enabled": bool(r["enabled"])}


class Relays:
    def __init__(self, store: Store, station: Station, clock: Clock, notifier: Notifier, *, timezone: str,
                 clips: Path, grace: float) -> None:  # fmt: skip
        self.store, self.station, self.clock, self.notifier = store, station, clock, notifier
        self.tz, self.clips, self.grace = ZoneInfo(timezone), clips, grace
        self._plays: set[asyncio.Task[None]] = set()

    def _add(self, db: sqlite_utils.Database, raw: Any) -> dict[str, Any]:
        row = validate(db, raw, self.clips)
        now = self.clock()
        row |= {"enabled": 1, "created_at": now, "next_at": next_time(json.loads(row["times"]), now, self.tz)}
        with transaction(db):
            cur = db.execute(
                "insert into station_relays (name, url, zones, times, minutes, silence, fallback, level, enabled,"
                " created_at, next_at) values (:name, :url, :zones, :times, :minutes, :silence, :fallback, :level,"
                " :enabled, :created_at, :next_at)",
                row,
            )
        return _json(next(db.query("select * from station_relays where id=?", [cur.lastrowid])))

    def _all(self, db: sqlite_utils.Database) -> list[dict[str, Any]]:
        return [_json(r) for r in db.query("select * from station_relays order by id")]

    def _delete(self, db: sqlite_utils.Database, relay_id: int) -> None:
        with transaction(db):
            if not db.execute("delete from station_relays where id=?", [relay_id]).rowcount:
                raise NotFound(f"Không có lịch tiếp sóng số {relay_id}", id=relay_id)

    def _next(self, db: sqlite_utils.Database) -> float | None:
        row = db.execute("select min(next_at) from station_relays where enabled=1").fetchone()
        return None if row[0] is None else float(row[0])

    def _take_due(self, db: sqlite_utils.Database, now: float) -> list[dict[str, Any]]:
        with transaction(db):
            rows = list(db.query("select * from station_relays where enabled=1 and next_at<=?", [now]))
            for r in rows:
                db.execute("update station_relays set next_at=? where id=?",
                           [next_time(json.loads(r["times"]), now, self.tz), r["id"]])  # fmt: skip
        return [_json(r) for r in rows]

    async def add(self, raw: Any) -> dict[str, Any]:
        return await self.store.call(self._add, raw)

    async def all(self) -> list[dict[str, Any]]:
        return await self.store.call(self._all)

    async def delete(self, relay_id: int) -> None:
        await self.store.call(self._delete, relay_id)

    async def next_at(self) -> float | None:
        return await self.store.call(self._next)

    async def start_due(self, now: float, grace: float) -> Sequence[asyncio.Task[None]]:
        started = []
        for r in await self.store.call(self._take_due, now):
            late = now - float(r["next_at"])
            if late > grace:
                log.warning("relay %s missed its %s slot by %.0f s", r["name"], r["times"], late)
                await self._missed(r, late)
                continue
            task = asyncio.create_task(self._play(r, max(0.0, late)), name=f"relay-{r['id']}")
            self._plays.add(task)
            task.add_done_callback(self._plays.discard)
            started.append(task)
        return started

    async def _missed(self, r: dict[str, Any], late: float) -> None:
        if self.station.record is not None:
            now = self.clock()
            proof = Proof("station", "missed", now, now, error=f"máy tắt hoặc bận: muộn {late:.0f} s")
            await self.station.record(Item(None, AUDIO[r["level"]], tuple(r["zones"]), "relay", r["id"], r["name"],
                                           r["level"]), [proof])  # fmt: skip

    async def _play(self, r: dict[str, Any], late: float) -> None:
        """The relay for its slot; interrupted by khẩn cấp, it resumes for what is left of the slot."""
        fallback = self.clips / f"{r['fallback']}.wav" if r["fallback"] else None
        item = Item(None, AUDIO[r["level"]], tuple(r["zones"]), "relay", r["id"], r["name"], r["level"])
        end = time.monotonic() + r["minutes"] * 60 - late
        try:
            while (left := end - time.monotonic()) > RESUME_AT_LEAST:
                live = LiveSource(r["url"], left, float(r["silence"]), fallback)
                outcome = await self.station.broadcast(None, item.priority, zones=r["zones"], item=item, live=live)
                if outcome.result != "interrupted":
                    break
                log.info("relay %s resumes after the item that interrupted it", r["name"])
        except Exception:
            log.exception("relay %s failed", r["name"])
        self.notifier.notify()

    async def close(self) -> None:
        for task in list(self._plays):
            task.cancel()
        if self._plays:
            await asyncio.wait(list(self._plays), timeout=5.0)
