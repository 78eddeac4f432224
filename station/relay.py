"""Relays of the provincial programme: a stream URL (HTTP, Icecast, an .m3u naming one) read by ffmpeg
for a fixed time, handed to each output as it comes; if the stream is absent or silent for N seconds
the fallback (a recorded bulletin, or nothing) plays instead, and when and why is kept for the log."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.request
from pathlib import Path
from typing import Any

from station.outputs import _stop
from station.pcm import BYTES_PER_SECOND, CHUNK, RATE, decode, loudness

log = logging.getLogger(__name__)
# the format known, nothing to analyse: ffmpeg's default (5 s of analysis) would hold the stream back that long
PROBE = ["-probesize", "32", "-analyzeduration", "1"]
SILENT_DB = -50.0  # dBFS: quieter than this for `silence` seconds is a dead stream (a carrier, hum)


FORMATS = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/aac": "aac", "audio/aacp": "aac", "audio/ogg": "ogg",
           "application/ogg": "ogg"}  # fmt: skip


def resolve(url: str, timeout: float = 5.0) -> tuple[str, str]:
    """The stream to read and its ffmpeg format ("" when unknown): an .m3u/.pls playlist's first stream;
    the format from the server's Content-Type (Icecast states it), so ffmpeg need not probe for seconds."""
    for _ in range(3):
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            kind = resp.headers.get_content_type()
            if kind in ("audio/x-mpegurl", "audio/mpegurl", "audio/x-scpls") or url.lower().split("?")[0].endswith(
                (".m3u", ".pls")
            ):
                found = [
                    line.strip().split("=", 1)[-1]
                    for line in resp.read(65536).decode("utf-8", "replace").splitlines()
                    if line.strip().split("=", 1)[-1].startswith(("http://", "https://"))
                ]
                if not found:
                    raise ValueError(f"{url}: no stream in the playlist")
                url = found[0]
                continue
            return url, FORMATS.get(kind, "")
    raise ValueError(f"{url}: playlists nested too deep")


class LiveSource:
    """One relay's sound for `seconds`: the stream while it sounds, else the fallback, else nothing."""

    def __init__(self, url: str, seconds: float, silence: float, fallback: Path | None) -> None:
        self.url, self.seconds, self.silence, self.fallback = url, seconds, silence, fallback
        self.events: list[dict[str, Any]] = []  # what happened when (seconds from the start)
        self._queues: list[asyncio.Queue[bytes | None]] = []
        self._t0 = 0.0

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        q: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._queues.append(q)
        return q

    def _event(self, what: str, detail: str = "") -> None:
        self.events.append({"at": round(time.monotonic() - self._t0, 1), "what": what, "detail": detail[:300]})
        log.info("relay %s: %s %s", self.url, what, detail)

    def _send(self, chunk: bytes | None) -> None:
        for q in self._queues:
            q.put_nowait(chunk)

    async def run(self) -> None:
        self._t0 = time.monotonic()
        end = self._t0 + self.seconds
        try:
            reason = await self._stream(end)
            if reason and time.monotonic() < end:
                self._event("fallback" if self.fallback else "nothing", reason)
                if self.fallback is not None:
                    await self._play_fallback(end)
        finally:
            self._send(None)

    async def _stream(self, end: float) -> str | None:
        """The stream until `end`; the reason it was given up on, or None when it lasted."""
        last_sound = time.monotonic()
        started = False
        while time.monotonic() < end:
            try:
                url, fmt = await asyncio.to_thread(resolve, self.url)
            except Exception as e:
                url, fmt, error = "", "", str(e)
            proc = None
            if url:
                proc = await asyncio.create_subprocess_exec(
                    "ffmpeg", "-nostdin", "-loglevel", "error", *(["-f", fmt, *PROBE] if fmt else []), "-re",
                    "-i", url, "-f", "s16le", "-ac", "1",
                    "-ar", str(RATE), "-", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                assert proc.stdout is not None
                error = "luồng đã dừng"
                try:
                    while (now := time.monotonic()) < end:
                        wait = max(0.1, min(end - now, last_sound + self.silence - now))
                        try:
                            chunk = await asyncio.wait_for(proc.stdout.readexactly(CHUNK), wait)
                        except asyncio.IncompleteReadError:
                            break
                        except TimeoutError:
                            if time.monotonic() - last_sound >= self.silence:
                                return f"không có tín hiệu {self.silence:.0f} s"
                            continue
                        if not started:
                            started = True
                            self._event("stream", url)
                        levels = loudness(chunk, RATE, 0.04)
                        if levels and max(levels) > SILENT_DB:
                            last_sound = time.monotonic()
                        elif time.monotonic() - last_sound >= self.silence:
                            return f"im lặng {self.silence:.0f} s"
                        self._send(chunk)
                finally:
                    await _stop(proc)
                    if proc.stderr is not None:
                        with contextlib.suppress(Exception):
                            error = (await proc.stderr.read(500)).decode("utf-8", "replace").strip() or error
            if time.monotonic() - last_sound >= self.silence:
                return f"không có luồng {self.silence:.0f} s: {error}"
            await asyncio.sleep(1.0)  # absent for now: tried again until `silence` has passed
        return None

    async def _play_fallback(self, end: float) -> None:
        assert self.fallback is not None
        pcm = await decode(self.fallback)
        t0, sent = time.monotonic(), 0
        for i in range(0, len(pcm), CHUNK):
            if time.monotonic() >= end:
                return
            self._send(pcm[i : i + CHUNK])
            sent += CHUNK
            ahead = sent / BYTES_PER_SECOND - (time.monotonic() - t0)
            if ahead > 0.2:
                await asyncio.sleep(ahead - 0.2)
