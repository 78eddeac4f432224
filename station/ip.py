"""The IP outputs: Icecast (an always-on source per zone, silence between items, an emergency source that
overrides it) and RTP (G.711 µ-law to a multicast group or unicast horns). ffmpeg is the encoder and
source client: Debian's ffmpeg is already installed for speech, where Liquidsoap would add ~150 MB of
OCaml runtime to CI and the Pi, and Loa already decides what plays when."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from station.icecast import IcecastStats, mounts
from station.outputs import Health, Item, Proof, _stop
from station.pcm import BYTES_PER_SECOND, CHUNK, RATE

log = logging.getLogger(__name__)
LEAD = 0.2  # seconds of sound a source writes ahead of the clock: enough to ride out a busy event loop
SILENCE = bytes(CHUNK)
# the input is raw PCM of a known format: nothing to probe, so ffmpeg connects and sends at once
FAST_INPUT = ["-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer"]


def _encoder(url: str, bitrate: int) -> list[str]:
    return ["ffmpeg", "-nostdin", "-loglevel", "error", *FAST_INPUT, "-f", "s16le", "-ar", str(RATE), "-ac", "1",
            "-i", "pipe:0",
            "-c:a", "libmp3lame", "-b:a", f"{bitrate}k", "-flush_packets", "1", "-content_type", "audio/mpeg",
            "-f", "mp3", url]  # fmt: skip


class Feed:
    """Writes PCM to an ffmpeg source in real time; `play` queues an item and returns when it was written."""

    def __init__(self, args: list[str], *, silence: bool) -> None:
        self.args = args
        self.silence = silence  # always-on: silence between items keeps the receivers connected
        self.proc: asyncio.subprocess.Process | None = None
        self._item: tuple[memoryview, asyncio.Future[None]] | None = None
        self._offset = 0
        self.started = 0.0
        self._live: tuple[asyncio.Queue[bytes | None], asyncio.Future[None]] | None = None

    async def open(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self.started = time.monotonic()

    async def pump(self) -> None:
        """Until the item ends (not `silence`) or the source dies: raises when it died."""
        assert self.proc is not None and self.proc.stdin is not None
        t0, written = time.monotonic(), 0
        try:
            while True:
                if self._live is not None:
                    chunk = self._next_live()
                elif self._item is None:
                    if not self.silence:
                        return
                    chunk = SILENCE
                else:
                    data, fut = self._item
                    chunk = bytes(data[self._offset : self._offset + CHUNK])
                    self._offset += len(chunk)
                    if self._offset >= len(data):
                        self._item, self._offset = None, 0
                        if not fut.done():
                            fut.set_result(None)
                    chunk = chunk.ljust(CHUNK, b"\0")
                self.proc.stdin.write(chunk)
                await self.proc.stdin.drain()
                written += len(chunk)
                ahead = written / BYTES_PER_SECOND - (time.monotonic() - t0)
                if ahead > LEAD:
                    await asyncio.sleep(ahead - LEAD)
                if self.proc.returncode is not None:
                    raise ConnectionError("source ended")
        except (ConnectionError, BrokenPipeError) as e:
            err = b""
            if self.proc.stderr is not None:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1):
                        err = await self.proc.stderr.read(2000)
            message = f"{e.__class__.__name__}: {err.decode('utf-8', 'replace').strip()[-300:]}"
            self._fail(message)
            raise ConnectionError(message) from None

    def _next_live(self) -> bytes:
        """The relayed stream's next chunk; silence while it has not come (the stream is late)."""
        assert self._live is not None
        queue, done = self._live
        try:
            chunk = queue.get_nowait()
        except asyncio.QueueEmpty:
            return SILENCE
        if chunk is None:
            self._live = None
            if not done.done():
                done.set_result(None)
            return SILENCE
        return chunk.ljust(CHUNK, b"\0")

    async def follow(self, queue: asyncio.Queue[bytes | None]) -> None:
        """Write a relayed stream as it comes, until its end."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._live = (queue, done)
        try:
            await done
        finally:
            if self._live is not None and self._live[1] is done:
                self._live = None

    def _fail(self, message: str) -> None:
        if self._live is not None and not self._live[1].done():
            self._live[1].set_exception(ConnectionError(message))
            self._live = None
        if self._item is not None and not self._item[1].done():
            self._item[1].set_exception(ConnectionError(message))
        self._item, self._offset = None, 0

    def following(self) -> bool:
        return self._live is not None

    def queue(self, pcm: bytes) -> asyncio.Future[None]:
        """The item to write next (instead of silence); the future is done when it was all written."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._item is not None and not self._item[1].done():
            self._item[1].cancel()
        self._item, self._offset = (memoryview(pcm), fut), 0
        return fut

    async def play(self, pcm: bytes) -> None:
        fut = self.queue(pcm)
        try:
            await fut
        except asyncio.CancelledError:
            if self._item is not None and self._item[1] is fut:
                self._item, self._offset = None, 0  # pre-empted: back to silence at the next chunk
            raise

    async def close(self) -> None:
        if self._item is not None and not self._item[1].done():
            self._item[1].cancel()
        self._item, self._offset = None, 0
        if self.proc is not None:
            if self.proc.stdin is not None:
                with contextlib.suppress(Exception):
                    self.proc.stdin.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self.proc.wait()
            await _stop(self.proc)


async def _fan_out(source: asyncio.Queue[bytes | None], copies: list[asyncio.Queue[bytes | None]]) -> None:
    while True:
        chunk = await source.get()
        for q in copies:
            q.put_nowait(chunk)
        if chunk is None:
            return


class IcecastOutput:
    """A mount per zone on an Icecast 2 server. Each zone's programme mount has an always-on source
    (silence between items); receivers listen on the zone's emergency mount, which falls back to the
    programme; khẩn cấp connects a source to the emergency mounts and Icecast's fallback-override moves
    every receiver onto it, and back to the programme when it ends."""

    kind = "icecast"
    warmup = 0.0

    def __init__(
        self, name: str, url: str, zones: Sequence[str], *, source_password: str, admin_user: str,
        admin_password: str, bitrate: int = 48, retry: float = 2.0,
    ) -> None:  # fmt: skip
        self.name, self.url, self.zones = name, url.rstrip("/"), list(zones)
        self.source_password, self.bitrate, self.retry = source_password, bitrate, retry
        self.stats = IcecastStats(url, admin_user, admin_password)
        self.health = Health(False, "đang kết nối")
        self.feeds: dict[str, Feed] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._down: dict[str, str] = {}

    def source_url(self, mount: str) -> str:
        u = urlsplit(self.url)
        return f"icecast://source:{quote(self.source_password, safe='')}@{u.hostname}:{u.port or 8000}{mount}"

    def serves(self, zones: Sequence[str]) -> bool:
        return not zones or any(z in self.zones for z in zones)

    def _zones_for(self, zones: Sequence[str]) -> list[str]:
        return [z for z in self.zones if not zones or z in zones]

    async def start(self) -> None:
        for zone in self.zones:
            self._down[zone] = "đang kết nối"
            self._tasks.append(asyncio.create_task(self._keep(zone), name=f"icecast-{zone}"))

    async def _keep(self, zone: str) -> None:
        """The zone's always-on source: reconnected while Icecast is away, each failure logged once."""
        mount = mounts(zone)[1]
        while True:
            feed = Feed(_encoder(self.source_url(mount), self.bitrate), silence=True)
            try:
                await feed.open()
                self.feeds[zone] = feed
                pump = asyncio.create_task(feed.pump())
                # connected once ffmpeg has stayed up a moment: a refused connection ends it at once
                done, _ = await asyncio.wait({pump}, timeout=1.0)
                if not done:
                    self._up(zone)
                await pump
            except asyncio.CancelledError:
                await feed.close()
                raise
            except Exception as e:
                if self._down.get(zone) is None:
                    log.warning("icecast source for %s lost: %s", zone, e)
                self._down[zone] = str(e)[:300]
                self._update()
            finally:
                if self.feeds.get(zone) is feed:
                    del self.feeds[zone]
            await feed.close()
            await asyncio.sleep(self.retry)

    def _up(self, zone: str) -> None:
        if self._down.pop(zone, None) is not None:
            log.info("icecast source for %s connected", zone)
        self._update()

    def _update(self) -> None:
        if not self._down:
            self.health.set(True, "đang phát nền (im lặng giữa các tin)")
        else:
            self.health.set(False, "mất kết nối Icecast", "; ".join(f"{z}: {e}" for z, e in self._down.items()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def reset(self) -> None:
        return None

    async def play(self, item: Item, on_relay: Callable[[str], Awaitable[None]] | None) -> Proof:
        zones = self._zones_for(item.zones)
        proof = Proof(self.name, started_at=time.time())
        before = await self._bytes(zones)
        try:
            if item.live is not None:
                missing = [z for z in zones if z not in self.feeds or z in self._down]
                if missing:
                    raise ConnectionError(f"không có nguồn tới Icecast cho {', '.join(missing)}")
                copies: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in zones]
                fan = asyncio.create_task(_fan_out(item.live, copies))
                try:
                    await asyncio.gather(*(self.feeds[z].follow(q) for z, q in zip(zones, copies, strict=True)))
                finally:
                    fan.cancel()
                proof.result = "played"
                return proof
            assert item.pcm is not None
            pcm = await item.pcm()
            if item.priority == 0:
                await self._override(zones, pcm)
            else:
                missing = [z for z in zones if z not in self.feeds or z in self._down]
                if missing:
                    raise ConnectionError(f"không có nguồn tới Icecast cho {', '.join(missing)}")
                await asyncio.gather(*(self.feeds[z].play(pcm) for z in zones))
                await asyncio.sleep(LEAD)  # the last chunk written ahead is now sounding
            proof.result = "played"
        except asyncio.CancelledError:
            proof.result = "interrupted"
            raise
        except Exception as e:
            proof.result, proof.error = "failed", str(e)[:500]
        finally:
            proof.ended_at = time.time()
            proof.detail = {"mounts": [mounts(z)[0] for z in zones], **await self._proof(zones, before)}
        return proof

    async def _override(self, zones: list[str], pcm: bytes) -> None:
        """Khẩn cấp: a source on each zone's emergency mount for the item's length, then gone."""
        feeds = [Feed(_encoder(self.source_url(mounts(z)[0]), self.bitrate), silence=False) for z in zones]
        try:
            await asyncio.gather(*(f.open() for f in feeds))
            # a second of silence after it: Icecast moves the listeners back as soon as the source leaves,
            # and what was still on its way to them would be cut
            tail = bytes(BYTES_PER_SECOND)
            written = [f.queue(pcm + tail) for f in feeds]
            await asyncio.gather(*(f.pump() for f in feeds))
            await asyncio.gather(*written)
            await asyncio.sleep(LEAD)
        finally:
            await asyncio.gather(*(f.close() for f in feeds))

    async def _bytes(self, zones: list[str]) -> dict[str, int]:
        try:
            found = await self.stats.mounts()
        except Exception:
            return {}
        return {m: s.bytes_sent for m, s in found.items()}

    async def _proof(self, zones: list[str], before: dict[str, int]) -> dict[str, object]:
        """Listeners and bytes Icecast sent them during the item: the IP clusters' proof of broadcast."""
        try:
            found = await self.stats.mounts()
        except Exception as e:
            return {"stats": f"không đọc được thống kê Icecast: {e}"[:300]}
        listeners = 0
        sent = 0
        for z in zones:
            for m in mounts(z):
                if m in found:
                    listeners += found[m].listeners
                    sent += found[m].bytes_sent - before.get(m, found[m].bytes_sent)
        return {"listeners": listeners, "bytes_sent": sent}

    async def receivers(self) -> list[dict[str, Any]]:
        """Which receivers are connected, where and for how long (Icecast's listener list)."""
        every = [m for z in self.zones for m in mounts(z)]
        try:
            found = await self.stats.listeners(every)
        except Exception as e:
            log.warning("icecast listeners unreadable: %s", e)
            return []
        zone_of = {m: z for z in self.zones for m in mounts(z)}
        return [{"output": self.name, "zone": zone_of.get(li.mount, ""), "mount": li.mount, "address": li.ip,
                 "agent": li.agent, "seconds": li.seconds, "id": li.id} for li in found]  # fmt: skip


class RtpOutput:
    """G.711 µ-law, 8 kHz, RTP to each zone's targets (a multicast group or unicast horns), only while an
    item plays: SIP/multicast paging horns open their speaker when packets come."""

    kind = "rtp"
    warmup = 0.0

    def __init__(self, name: str, targets: dict[str, list[str]], ttl: int = 1, sdp_dir: str = "") -> None:
        self.name, self.targets, self.ttl, self.sdp_dir = name, targets, ttl, sdp_dir
        self.health = Health()

    def serves(self, zones: Sequence[str]) -> bool:
        return "*" in self.targets or not zones or any(z in self.targets for z in zones)

    def _targets(self, zones: Sequence[str]) -> list[str]:
        chosen = [t for z, ts in self.targets.items() if z == "*" or not zones or z in zones for t in ts]
        return list(dict.fromkeys(chosen))

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def reset(self) -> None:
        return None

    async def play(self, item: Item, on_relay: Callable[[str], Awaitable[None]] | None) -> Proof:
        targets = self._targets(item.zones)
        proof = Proof(self.name, started_at=time.time(), detail={"targets": targets})
        args = ["ffmpeg", "-nostdin", "-loglevel", "error", *FAST_INPUT, "-f", "s16le", "-ar", str(RATE), "-ac", "1",
                "-i", "pipe:0"]  # fmt: skip
        for target in targets:
            args += ["-map", "0:a", "-c:a", "pcm_mulaw", "-ar", "8000", "-ac", "1", "-payload_type", "0", "-f", "rtp",
                     f"rtp://{target}?ttl={self.ttl}&pkt_size=172"]  # fmt: skip
        feed = Feed(args, silence=item.live is not None)
        try:
            await feed.open()
            if item.live is not None:
                pump = asyncio.create_task(feed.pump())
                try:
                    await feed.follow(item.live)
                finally:
                    pump.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await pump
            else:
                assert item.pcm is not None
                written = feed.queue(await item.pcm())
                await feed.pump()
                await written
            await asyncio.sleep(LEAD)
            proof.result = "played"
            self.health.set(True, "sẵn sàng")
        except asyncio.CancelledError:
            proof.result = "interrupted"
            raise
        except Exception as e:
            proof.result, proof.error = "failed", str(e)[:500]
            self.health.set(False, "lỗi khi phát", proof.error)
        finally:
            proof.ended_at = time.time()
            await feed.close()
        return proof
