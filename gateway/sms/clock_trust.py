"""Whether the Pi's clock can be trusted: it has no battery, so after a power cut it may run hours off."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from gateway.core.clock import Clock
from gateway.sms.transport import Transport

log = logging.getLogger(__name__)
NTP_SYNCHRONISED = Path("/run/systemd/timesync/synchronized")  # systemd-timesyncd's own flag
TOLERANCE = 120.0  # seconds off the network's time that still count as right
# at start, work set for a time of day waits this long at most for the modem's first reading of the
# network's time (its set-up reads it last): a clock an hour ahead must not fire a reminder first
JUDGE_WAIT = 90.0


@dataclass(frozen=True)
class ClockStatus:
    trusted: bool
    reason: str
    offset: float | None  # the network's time minus this clock, in seconds; None: not known


def latest_record(db: sqlite_utils.Database) -> float:
    """The newest moment a verified clock (NTP, the network's time) saw: a clock earlier than it went
    backwards. Not the newest record: a clock an hour ahead with nothing to check it against stamps its
    records an hour ahead, and the right clock after it would look an hour behind them (issue #31)."""
    row = db.execute("select max(at) from clock_verified").fetchone()
    return float(row[0] or 0.0)


def note_verified(db: sqlite_utils.Database, at: float) -> None:
    """A verified clock said `at`: the floor a later clock must not be behind."""
    db.execute("insert or replace into clock_verified (id, at) values (1, ?)", [at])


class ClockTrust:
    """NTP's word first; else the network's time from the modem; else a clock behind the last record
    is wrong; with none of them, trusted but said to be unverified."""

    def __init__(
        self, clock: Clock, transport: Transport, ntp_flag: Path | None = None,
        set_clock: Callable[[float], None] | None = None, use_network: bool = True, judge_wait: float = JUDGE_WAIT,
    ) -> None:  # fmt: skip
        self.clock = clock
        self.transport = transport
        self.ntp_flag = ntp_flag or NTP_SYNCHRONISED
        self.floor = 0.0  # set at start from the database (`latest_record`)
        self.use_network = use_network  # [schedules] trust_network_time
        # with permission ([schedules] set_clock_from_network), how the system clock is set
        self.set_clock = set_clock
        self._set_for: float | None = None
        self._judge_until = time.monotonic() + judge_wait  # monotonic: the wall clock is what is in doubt
        self._judged = False
        self.verified_at = 0.0  # the last moment NTP or the network's time agreed with this clock

    def judged(self) -> bool:
        """Whether the clock can be judged yet: NTP has spoken, the modem read the network's time or
        was set up without one (its set-up reads it last), or the bounded wait for it is over."""
        if not self._judged:
            info = self.transport.info
            self._judged = (
                not self.use_network
                or self.ntp_flag.exists()
                or info.network_offset is not None
                or info.connected
                or time.monotonic() >= self._judge_until
            )
            if self._judged:
                log.info("clock judged: %s", self.status().reason)
        return self._judged

    def status(self) -> ClockStatus:
        now = self.clock()
        offset = self.transport.info.network_offset if self.use_network else None
        if self.ntp_flag.exists():
            # NTP over the internet beats a modem's clock, which some networks never set right
            self.verified_at = now
            return ClockStatus(True, "đồng bộ NTP (NTP synchronised)", offset)
        if offset is not None:
            if abs(offset) > TOLERANCE:
                return ClockStatus(
                    False,
                    f"giờ máy lệch {offset / 60:+.0f} phút so với giờ mạng di động"
                    " (the clock differs from the mobile network's time)",
                    offset,
                )
            self.verified_at = now
            return ClockStatus(True, "khớp giờ mạng di động (matches the mobile network's time)", offset)
        if self.floor and now < self.floor - 60:
            return ClockStatus(
                False,
                "giờ máy sớm hơn lần ghi dữ liệu cuối: đồng hồ lùi sau khi mất điện (clock behind the last record)",
                None,
            )
        return ClockStatus(True, "chưa kiểm được: không có giờ mạng, không có NTP (not verified)", None)

    def hold(self) -> str | None:
        """For the scheduler: why to hold work set for a time of day, or None. With permission, a
        clock the network's time contradicts is set from it (once per reading of the network time)."""
        if not self.judged():
            return "chưa biết giờ đúng: đang chờ giờ mạng từ modem (waiting for the modem's network time)"
        status = self.status()
        if not status.trusted and status.offset is not None and self.set_clock and self._set_for != status.offset:
            self._set_for = status.offset
            try:
                self.set_clock(self.clock() + status.offset)
                log.warning("system clock set from the mobile network's time (it was %+.0f s off)", status.offset)
            except OSError as e:
                log.error("could not set the system clock (%s): give Loa CAP_SYS_TIME, or set it by hand", e)
        return None if status.trusted else status.reason
