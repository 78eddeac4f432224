"""What every page needs to know of the commune: its name and its time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo


class Console:
    """What every page needs to know of the commune: its name and its time zone."""

    def __init__(self, commune: str, timezone: str) -> None:
        self.commune = commune
        self.tz = ZoneInfo(timezone)

    def when(self, ts: float | None) -> str:
        return "" if ts is None else datetime.fromtimestamp(ts, self.tz).strftime("%H:%M %d/%m/%Y")
