"""Recurrence rules as APScheduler triggers, evaluated against an injected clock, and quiet hours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

WEEKDAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    """Either one moment (`at`, epoch seconds) or a cron expression in the commune's time zone."""

    at: float | None = None
    cron: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at} if self.at is not None else {"cron": self.cron}

    def next_after(self, after: float, tz: ZoneInfo) -> float | None:
        """The first fire time strictly after `after`, or None when the rule is spent."""
        if self.at is not None:
            return self.at if self.at > after else None
        assert self.cron is not None
        trigger = CronTrigger.from_crontab(self.cron, timezone=tz)
        start = datetime.fromtimestamp(after, tz) + timedelta(seconds=1)
        nxt = trigger.get_next_fire_time(None, start)
        return None if nxt is None else nxt.timestamp()


def parse_rule(raw: Any, now: float, tz: ZoneInfo) -> Rule:
    """'now', {"at": "2026-12-05T08:00"}, {"cron": "0 8 5 * *"}, {"monthly": {"day": 5, "time": "08:00"}}
    or {"weekly": {"days": ["mon"], "time": "07:00"}}."""
    if raw in (None, "now"):
        return Rule(at=now)
    if not isinstance(raw, dict) or len(raw) != 1:
        raise RuleError('\'when\' phải là "now", {"at": …}, {"cron": …}, {"monthly": …} hoặc {"weekly": …}')
    ((kind, value),) = raw.items()
    if kind == "at":
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            raise RuleError(f"thời điểm không hợp lệ: {value!r} (ví dụ 2026-12-05T08:00)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return Rule(at=moment.timestamp())
    if kind == "cron":
        cron = str(value)
    elif kind == "monthly" and isinstance(value, dict):
        hh, mm = _clock(value.get("time", "08:00"))
        day = value.get("day")
        if not isinstance(day, int) or not 1 <= day <= 31:
            raise RuleError("monthly.day phải từ 1 đến 31")
        cron = f"{mm} {hh} {day} * *"
    elif kind == "weekly" and isinstance(value, dict):
        hh, mm = _clock(value.get("time", "08:00"))
        days = value.get("days", [])
        if not days or not all(d in WEEKDAYS for d in days):
            raise RuleError(f"weekly.days phải trong {', '.join(WEEKDAYS)}")
        cron = f"{mm} {hh} * * {','.join(days)}"
    else:
        raise RuleError(f"không hiểu lịch {kind!r}")
    try:
        CronTrigger.from_crontab(cron, timezone=tz)
    except ValueError as e:
        raise RuleError(f"biểu thức cron không hợp lệ {cron!r}: {e}") from None
    return Rule(cron=cron)


def _clock(value: Any) -> tuple[int, int]:
    try:
        t = time.fromisoformat(str(value))
    except ValueError:
        raise RuleError(f"giờ không hợp lệ: {value!r} (ví dụ 08:00)") from None
    return t.hour, t.minute


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    tz: ZoneInfo

    @classmethod
    def parse(cls, start: str, end: str, tz: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end), ZoneInfo(tz))

    def release(self, moment: float) -> float:
        """When a routine message due at `moment` may go: then, or at the end of the quiet hours."""
        local = datetime.fromtimestamp(moment, self.tz)
        now = local.time()
        quiet = (self.start <= now or now < self.end) if self.start > self.end else self.start <= now < self.end
        if not quiet:
            return moment
        day = local.date() if now < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=self.tz).timestamp()
