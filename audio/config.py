"""The [audio] and [player] config sections."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AudioConfig:
    engine: str = "espeak-ng"
    voice: str = "vi"
    rate: int = 150
    repeat: int = 2
    gap: float = 1.5
    chime: str = ""
    target_lufs: float = -16.0
    true_peak: float = -1.5
    chime_lufs: float = -18.0
    highpass: float = 120.0
    cache_dir: str = "data/audio"
    abbreviations_file: str = ""
    max_text: int = 2000
    max_seconds: float = 900.0
    max_clip_seconds: float = 300.0
    max_memory_mb: int = 768
    cache_days: float = 30.0
    cache_max_mb: int = 500
    # free space a render never takes: below it drafts are refused, so that alerts and SMS (which stop
    # only at [database] min_free_mb) keep working on a nearly full disk
    reserve_mb: int = 200
    draft_quota_mb: int = 100  # the renders of one account's drafts, in all (a 15-minute draft is ~38 MB)
    draft_days: float = 14.0  # a draft nobody approved for this long is cancelled, its render pruned


@dataclass(frozen=True)
class PlayerConfig:
    kind: str = "aplay"
    folder: str = "data/played"  # kind "folder": each play is copied here as a WAV, to listen to later
    device: str = ""
    command: tuple[str, ...] = ()
    relay: str = "none"
    relay_pin: int = 17
    relay_active_low: bool = True
    relay_on_command: tuple[str, ...] = ()
    relay_off_command: tuple[str, ...] = ()
    # A hamlet's own loudspeaker line: "Nà Phìn=22" (a GPIO pin, or whatever {line} means to the commands)
    lines: tuple[str, ...] = ()
    line_on_command: tuple[str, ...] = ()
    line_off_command: tuple[str, ...] = ()
    warmup: float = 2.0
    tail: float = 1.0
