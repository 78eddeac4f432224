"""The [schedules] config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SchedulesConfig:
    grace: float = 900.0
    # when the mobile network's time and the Pi's differ, set the Pi's clock from the network's
    # (needs CAP_SYS_TIME: AmbientCapabilities=CAP_SYS_TIME in the unit)
    set_clock_from_network: bool = False
    # false: a modem whose network sends a wrong time is not believed (the clock is then checked
    # only against NTP and the database's last record)
    trust_network_time: bool = True
