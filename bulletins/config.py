"""The [bulletins] config section."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.errors import ConfigError


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

    def __post_init__(self) -> None:
        """Each key in its range, named when it is not (the config is refused at load)."""
        problems = {
            "commune_code": not (self.commune_code == "" or _code(self.commune_code)),
            "latitude": not -90 <= self.latitude <= 90,
            "longitude": not -180 <= self.longitude <= 180,
            "wait_minutes": not 0 <= self.wait_minutes <= 24 * 60,
            "default_hours": not 0 < self.default_hours <= 7 * 24,
            "poll_minutes": not 1 <= self.poll_minutes <= 24 * 60,
            "sms_segments": not 1 <= self.sms_segments <= 10,
            # CAP: the sender has no spaces, commas or reserved characters
            "sender": not self.sender or any(c in self.sender for c in " \t\n,<&"),
            "feeds": not all(f.startswith(("http://", "https://")) for f in self.feeds),
        }
        for key, bad in problems.items():
            if bad:
                raise ConfigError(f"config key bulletins.{key}: {getattr(self, key)!r} is out of range",
                                  key=f"bulletins.{key}")  # fmt: skip


def _code(text: str) -> bool:
    return text.isdigit() and len(text) <= 10
