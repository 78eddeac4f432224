"""Announcements under attack: endless text, playlists that read the Pi's files, endless clips."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from gateway.testing import AUTH, count


async def ffmpeg(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await proc.wait() == 0


async def test_spoken_text_has_a_size_and_the_whole_a_length(emulator: Any, start_gateway: Any) -> None:
    client = await start_gateway(emulator, audio={"max_seconds": 20.0})
    huge = {"text": "Thông báo " * 2500, "repeat": 5}  # 25,000 characters
    resp = await client.post("/api/v1/announcements", json=huge, headers=AUTH)
    assert resp.status == 400 and (await resp.json())["field"] == "text"
    assert "tối đa 2000 ký tự" in (await resp.json())["error"]
    # within the characters, but read five times it would last longer than the configured 20 s
    long = {"text": "Bà con thôn Nà Phìn chú ý, chiều nay họp thôn tại nhà văn hoá. " * 3, "repeat": 5}
    resp = await client.post("/api/v1/announcements", json=long, headers=AUTH)
    assert resp.status == 400 and "phút" in (await resp.json())["error"]
    assert await count(client, "announcements") == 0
    short = {"text": "Chiều nay họp thôn.", "repeat": 1}
    assert (await client.post("/api/v1/announcements", json=short, headers=AUTH)).status == 201


async def test_a_playlist_naming_files_on_the_pi_is_refused(gateway: Any, tmp_path: Path) -> None:
    secret = tmp_path / "private.mp3"
    await ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(secret))
    playlist = "#EXTM3U\n#EXT-X-TARGETDURATION:1\n" + f"#EXTINF:1,\n{secret}\n" * 2000 + "#EXT-X-ENDLIST\n"
    concat = f"ffconcat version 1.0\nfile '{secret}'\n"
    for body in (playlist.encode(), concat.encode()):
        resp = await gateway.post("/api/v1/clips", data=body, headers=AUTH)
        assert resp.status == 400, await resp.text()
        assert (await resp.json())["field"] == "clip"
    assert not list((tmp_path / "audio").glob("clips/*.wav"))


async def test_clips_in_the_formats_phones_make_are_taken_and_an_endless_one_is_not(
    emulator: Any, start_gateway: Any, tmp_path: Path
) -> None:
    client = await start_gateway(emulator, audio={"max_clip_seconds": 5.0})
    for name in ("voice.m4a", "voice.ogg", "voice.wav", "voice.flac", "voice.webm"):
        path = tmp_path / name  # ffmpeg's own mp4 keeps its index at the end, as phones' recorders do
        await ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", str(path))
        resp = await client.post("/api/v1/clips", data=path.read_bytes(), headers=AUTH)
        assert resp.status == 201, (name, await resp.text())
    long = tmp_path / "long.mp3"
    await ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=30", str(long))
    resp = await client.post("/api/v1/clips", data=long.read_bytes(), headers=AUTH)
    assert resp.status == 400 and "dài quá 5 giây" in (await resp.json())["error"]
