"""The [modem] and [sms] config sections."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.sms.encoding import Policy

# the two words [modem] port takes besides a device: the built-in emulated modem (`loa run` starts it), no modem
EMULATOR = "emulator"
NO_MODEM = "none"


@dataclass(frozen=True)
class ModemConfig:
    port: str = EMULATOR  # or a device, or NO_MODEM (no modem: SMPP alone)
    # "at": a modem on a serial port; "hilink": a HiLink dongle's web API at `url` (port unused), with
    # `username` / `password` when its web page asks for a login
    kind: str = "at"
    url: str = "http://192.168.8.1/"
    username: str = ""
    password: str = ""
    # in a pool: how the console and the logs call it, the carrier of its SIM ("viettel", "vinaphone",
    # "mobifone", "vietnamobile", "gmobile", "itel"; "" = unknown) and the most parts a minute it may
    # send (0 = as fast as it answers)
    name: str = ""
    carrier: str = ""
    per_minute: float = 0.0
    baudrate: int = 115200
    pin: str = ""
    smsc: str = ""
    # the demo's emulated modem: an LTE module, as a commune buys one in 2026 (2G is off in Vietnam)
    emulator_family: str = "ec25"
    command_timeout: float = 10.0
    # the longest wait for a +CMGS answer before the modem is called lost; a module whose manual
    # documents less (60 s; Quectel and SIMCom LTE modules 120 s) is waited for that long
    send_timeout: float = 120.0
    # how long an LTE module may take after power-up to say SMS is ready (+QIND: SMS DONE, SMS DONE)
    sms_ready_timeout: float = 120.0
    ussd_timeout: float = 30.0
    poll_interval: float = 30.0
    sweep_interval: float = 300.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    # a stick that stays stuck: this command (e.g. uhubctl) cuts and restores its USB power after
    # `power_cycle_after` failed connects in a row; () = never. `tell_when_back`: numbers texted once it is back
    power_cycle: tuple[str, ...] = ()
    power_cycle_after: int = 5
    tell_when_back: tuple[str, ...] = ()

    @property
    def emulated(self) -> bool:
        """The built-in emulated modem, not a device."""
        return self.kind == "at" and self.port == EMULATOR

    @property
    def absent(self) -> bool:
        """No modem here: SMPP alone."""
        return self.port == NO_MODEM


@dataclass(frozen=True)
class SmppConfig:
    """SMPP 3.4 to the carrier's SMSC (or a Jasmin in between): used instead of the modem when enabled."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = 2775
    system_id: str = ""
    password: str = ""
    source_addr: str = ""  # the sender id the carrier gave the commune (a number or a name)
    submit_timeout: float = 30.0
    enquire_link: float = 30.0
    reconnect_min: float = 1.0  # seconds before the first reconnect; doubled five times at most
    window: int = 50  # submit_sm sent and not yet answered, at most
    per_second: float = 0.0  # the carrier's contracted rate (0 = as fast as the SMSC answers)


@dataclass(frozen=True)
class RoutingConfig:
    """Which transport sends what, when there is more than one (modems of the pool, SMPP)."""

    alerts: str = "all"  # "all": every transport at once; "smpp"; "modems"
    bulk: str = "smpp"  # reminders and bulk: "smpp" when it is configured, or "any"
    # bulk falls back to the modems when SMPP has been down this long (seconds; 0 = never)
    bulk_fallback_after: float = 600.0
    replies: str = "same"  # "same": through the transport the question came in on; or "any"
    prefer_carrier: bool = True  # a modem whose SIM has the recipient's carrier sends (on-net is cheaper)


@dataclass(frozen=True)
class SmsConfig:
    encoding: Policy = "auto"
    # automatic replies the whole commune sends in 24 hours (answers, menus, confirmations); past it,
    # none until the day's count falls, and the dashboard says so (0: no budget)
    daily_auto_replies: int = 500
    status_reports: bool = True
    send_interval: float = 0.0
    max_tries: int = 5
    retry_base: float = 30.0
    retry_max: float = 3600.0
    reassembly_timeout: float = 1800.0
    report_window: float = 259200.0
