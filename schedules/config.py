"""The [schedules] config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchedulesConfig:
    grace: float = 900.0
