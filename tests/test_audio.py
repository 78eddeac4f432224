"""Real audio: espeak-ng and ffmpeg render notices at the commune's loudness; clips; the cache; `loa say`."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from broadcasts.keys import ANNOUNCER
from gateway.testing import AUTH

NOTICE = (
    "Thông báo: 7h30 sáng thứ Hai, 15/12, tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã. Mang sổ tiêm và thẻ BHYT."
)


async def run(*args: str) -> str:
    """A program run without blocking the event loop the gateway under test runs on; its stderr."""
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return err.decode()


async def loudness(path: Path) -> tuple[float, float]:
    """Measured by ffmpeg's loudnorm analysis: another meter than the one the renderer uses."""
    err = await run(
        "ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "loudnorm=print_format=json", "-f", "null", "-"
    )
    found = json.loads(re.findall(r"\{[^{}]*\}", err)[-1])
    return float(found["input_i"]), float(found["input_tp"])


async def test_a_notice_is_rendered_at_the_target_loudness_and_cached(gateway: Any) -> None:
    resp = await gateway.post("/api/v1/announcements", json={"text": NOTICE, "repeat": 2}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    renderer = gateway.app[ANNOUNCER].renderer
    wav = renderer.cache / f"{made['audio_key']}.wav"
    lufs, peak = await loudness(wav)
    assert abs(lufs - -16.0) <= 1.0, lufs
    assert peak <= -1.5, peak
    assert made["seconds"] > 10  # chime, two readings, chime
    before = wav.stat().st_mtime_ns
    again = await renderer.render(renderer.recipe(text=NOTICE, repeat=2))
    assert again.cached and again.key == made["audio_key"] and wav.stat().st_mtime_ns == before
    other = renderer.recipe(text=NOTICE, repeat=3)
    assert other.key != made["audio_key"]
    preview = await gateway.get(made["preview"], headers=AUTH)
    assert preview.status == 200 and preview.content_type == "audio/mpeg"
    assert len(await preview.read()) > 10_000


async def test_the_text_is_normalised_before_speech(gateway: Any) -> None:
    renderer = gateway.app[ANNOUNCER].renderer
    assert renderer.recipe(text="Họp lúc 19h tại UBND xã").speech == "Họp lúc mười chín giờ tại Ủy ban nhân dân xã"


async def test_a_recorded_mp3_clip_is_normalised_too(gateway: Any, tmp_path: Path) -> None:
    # a hamlet head's recording: quiet, MP3 — here espeak in its own words, made quieter on purpose
    raw, mp3 = tmp_path / "raw.wav", tmp_path / "clip.mp3"
    await run("espeak-ng", "-v", "vi", "-w", str(raw), "Bà con bản Khau Vai chú ý nghe thông báo")
    await run("ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(raw), "-af", "volume=-14dB", str(mp3))
    assert (await loudness(mp3))[0] < -25
    resp = await gateway.post("/api/v1/clips", data=mp3.read_bytes(), headers=AUTH)
    assert resp.status == 201
    clip = (await resp.json())["clip"]
    resp = await gateway.post("/api/v1/announcements", json={"clip": clip, "repeat": 1}, headers=AUTH)
    assert resp.status == 201, await resp.text()
    wav = gateway.app[ANNOUNCER].renderer.cache / f"{(await resp.json())['audio_key']}.wav"
    lufs, peak = await loudness(wav)
    assert abs(lufs - -16.0) <= 1.0 and peak <= -1.5
    resp = await gateway.post("/api/v1/clips", data=b"not audio at all", headers=AUTH)
    assert resp.status == 400 and "ghi âm" in (await resp.json())["error"]


async def test_bad_announcements_are_refused(gateway: Any) -> None:
    cases = [
        ({}, "text"),
        ({"text": "a", "clip": "b"}, "text"),
        ({"text": "Họp", "priority": "gấp"}, "priority"),
        ({"text": "Họp", "zones": ["Hà Nội"]}, "zones"),
        ({"text": "Họp", "when": {"at": "hôm qua"}}, "when"),
        ({"text": "Họp", "repeat": 9}, "repeat"),
    ]
    for body, field in cases:
        resp = await gateway.post("/api/v1/announcements", json=body, headers=AUTH)
        assert resp.status == 400, body
        assert (await resp.json())["field"] == field, body


def test_loa_say_renders_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "notice.wav"
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[audio]\ncache_dir = "{tmp_path / "cache"}"\n', encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "say", "Họp thôn lúc 19h", "-o", str(out), "--config", str(cfg)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 20_000
    assert "mười chín giờ" in done.stdout


async def test_the_folder_player_keeps_each_play_to_listen_to(tmp_path: Path) -> None:
    from audio.player import FolderPlayer

    wav = tmp_path / "abc.wav"
    wav.write_bytes(b"RIFF....WAVE")
    player = FolderPlayer(str(tmp_path / "played"))
    await player.play(wav)
    (kept,) = (tmp_path / "played").glob("*-abc.wav")
    assert kept.read_bytes() == b"RIFF....WAVE"
