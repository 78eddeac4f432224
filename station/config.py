"""The [station] config section: which outputs the station has, its zones, and each output's settings."""

from __future__ import annotations

from dataclasses import dataclass

OUTPUT_KINDS = ("wired", "fm", "icecast", "rtp")


@dataclass(frozen=True)
class StationConfig:
    outputs: tuple[str, ...] = ("wired",)  # wired ([player]), fm, icecast, rtp
    # a hamlet's outputs: "Nà Phìn=wired,icecast"; a hamlet not named plays on every output
    zones: tuple[str, ...] = ()
    # fm: the transmitter's sound card and its power/PTT relay (a GPIO pin or commands), with its warm-up
    fm_device: str = ""
    fm_relay: str = "none"  # none | gpio | command | recording
    fm_relay_pin: int = 27
    fm_relay_on_command: tuple[str, ...] = ()
    fm_relay_off_command: tuple[str, ...] = ()
    fm_warmup: float = 3.0
    fm_tail: float = 1.0
    # icecast: the server (Debian's icecast2), its source and admin passwords, the MP3 bitrate (kbit/s)
    icecast_url: str = "http://127.0.0.1:8000"
    icecast_source_password: str = ""
    icecast_admin_user: str = "admin"
    icecast_admin_password: str = ""
    icecast_bitrate: int = 48
    # rtp: "Nà Phìn=239.255.1.1:5004" (a multicast group or a horn), "*=…" for every item
    rtp_targets: tuple[str, ...] = ()
    rtp_ttl: int = 1
