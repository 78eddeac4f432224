"""What the views and the other packages call: the outputs' health, the receivers, the report."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from gateway.core.clock import Clock
from gateway.core.errors import InvalidRequest
from gateway.core.store import Store
from station import report
from station.ip import IcecastOutput
from station.relays import Relays
from station.station import Station


class StationService:
    def __init__(self, station: Station, store: Store, clock: Clock, timezone: str, relays: Relays) -> None:
        self.station, self.store, self.clock, self.tz = station, store, clock, ZoneInfo(timezone)
        self.relays = relays

    def outputs(self) -> list[dict[str, Any]]:
        """Every output with its health: what the dashboard shows."""
        return [{"name": o.name, "kind": o.kind, "ok": o.health.ok, "state": o.health.state,
                 "error": o.health.error, "since": o.health.since} for o in self.station.outputs]  # fmt: skip

    async def receivers(self) -> list[dict[str, Any]]:
        """The IP receivers connected now (Icecast's listener list), per zone, with how long."""
        found: list[dict[str, Any]] = []
        for o in self.station.outputs:
            if isinstance(o, IcecastOutput):
                found.extend(await o.receivers())
        return found

    def period(self, day: str = "", month: str = "") -> tuple[float, float, str]:
        """A day (2026-12-07) or a month (2026-12) as the commune's start and end; today without either."""
        try:
            if month:
                if len(month) != 7:
                    raise ValueError
                y, m = int(month[:4]), int(month[5:7])
                first = date(y, m, 1)
                last = calendar.monthrange(y, m)[1]
                start = datetime.combine(first, datetime.min.time(), self.tz).timestamp()
                return start, start + last * 86400, first.strftime("%Y-%m")
            d = date.fromisoformat(day) if day else datetime.fromtimestamp(self.clock(), self.tz).date()
        except ValueError:
            raise InvalidRequest("Kỳ báo cáo: day=2026-12-07 hoặc month=2026-12", field="day") from None
        start = datetime.combine(d, datetime.min.time(), self.tz).timestamp()
        return start, start + 86400, d.isoformat()

    async def report(self, day: str = "", month: str = "") -> dict[str, Any]:
        """The as-played log per output of a day or a month, with the station's outputs and receivers."""
        start, end, label = self.period(day, month)
        plays = await self.store.call(report.plays, start, end)
        return {"period": label, "outputs": self.outputs(), "receivers": await self.receivers(), "plays": plays}

    def when(self, t: float | None) -> str:
        return "" if not t else datetime.fromtimestamp(t, self.tz).strftime("%Y-%m-%d %H:%M:%S")

    async def report_csv(self, day: str = "", month: str = "") -> tuple[str, str]:
        found = await self.report(day, month)
        return found["period"], report.as_csv(found["plays"], self.when)
