"""The [bulletins] config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BulletinsConfig:
    # the commune's administrative code (the post-2025 codes) as a CAP geocode carries it
    commune_code: str = ""
    # the commune's point (its centre or the committee's office), for CAP polygons and circles
    latitude: float = 0.0
    longitude: float = 0.0
    # a warning plays, texts and alerts at once; otherwise it waits `wait_minutes` for an official
    auto_play: bool = False
    wait_minutes: float = 10.0
    # how long a warning without <expires> goes on repeating
    default_hours: float = 12.0
    # CAP Atom/RSS feeds polled every `poll_minutes`
    feeds: tuple[str, ...] = ()
    poll_minutes: float = 5.0
    # the SMS to residents: folded to GSM-7 (cheaper) and at most this many segments
    sms_fold: bool = True
    sms_segments: int = 2
    # the commune as the sender of its own CAP (an e-mail or URN) and the name it signs with
    sender: str = "loa@xa.local"
