"""The [broadcasts] config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BroadcastsConfig:
    timezone: str = "Asia/Ho_Chi_Minh"
    quiet_start: str = "21:00"
    quiet_end: str = "07:00"
    daily_cap: int = 3
    segment_price: int = 350
    misfire_grace: float = 21600.0
    alert_confirm_minutes: float = 30.0
    alert_escalate_to: str = ""
    daily_segments_hamlet_head: int = 100
    daily_segments_official: int = 2000
    daily_segments_admin: int = 0
