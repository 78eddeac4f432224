"""Announcement audio: speech (or a clip), chime, repeats, loudness; rendered once, cached by hash."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import shutil
import tempfile
import tomllib
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from audio.config import AudioConfig
from audio.vietnamese import normalise
from gateway.core.errors import InvalidRequest, LoaError

log = logging.getLogger(__name__)
RATE = 22050
VERSION = 1  # bump when the assembly changes, so old cached renders are not reused
LIMITER_MARGIN = 0.8  # dB: the limiter sees samples; peaks between samples can be this much higher


class AudioError(LoaError):
    status = 500


class Synthesizer(Protocol):
    async def synthesize(self, text: str, out: Path) -> None: ...


class Espeak:
    """espeak-ng from Debian: Vietnamese voices, far faster than real time."""

    def __init__(self, voice: str, rate: int, memory_mb: int = 0) -> None:
        self.voice = voice
        self.rate = rate
        self.memory_mb = memory_mb

    async def synthesize(self, text: str, out: Path) -> None:
        args = ["espeak-ng", "-v", self.voice, "-s", str(self.rate), "-w", str(out), "--stdin"]
        await run(args, text.encode(), memory_mb=self.memory_mb)


# container formats a phone or a recorder makes; never a playlist or a list of other files
# (hls, concat, ...), which would make ffmpeg read whatever they name on the Pi
CLIP_FORMATS = {
    "wav", "mp3", "ogg", "flac", "aac", "amr", "aiff", "matroska,webm", "mov,mp4,m4a,3gp,3g2,mj2",
}  # fmt: skip


async def run(args: list[str], stdin: bytes | None = None, *, memory_mb: int = 0) -> str:
    """A tool (espeak-ng, ffmpeg) as a subprocess; its stderr is returned, a failure raised with it.
    With `memory_mb`, the tool's address space is capped (prlimit, from util-linux); it runs niced."""
    if shutil.which(args[0]) is None:
        raise AudioError(f"{args[0]} is not installed (make run installs it: apt-get install {args[0]})")
    name = args[0]
    if memory_mb:
        args = ["prlimit", f"--as={memory_mb * 1024 * 1024}", "--", *args]
    # below the gateway's own priority: a render never slows the SMS path or /healthz on a small Pi
    args = ["nice", "-n", "10", *args]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate(stdin)
    text = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AudioError(f"{name} failed ({proc.returncode}): {text[-500:]}")
    return text


def _summary(err: str, name: str) -> tuple[float, float]:
    summary = err[err.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if i is None or peak is None:
        raise AudioError(f"no loudness measurement for {name}")
    return float(i.group(1)), float(peak.group(1))


async def measure(path: Path, chain: str = "", out: Path | None = None, memory_mb: int = 0) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBTP) by ffmpeg's EBU R128 meter, after `chain`;
    with `out`, the filtered audio is written there in the same pass."""
    filters = f"{chain},ebur128=peak=true" if chain else "ebur128=peak=true"
    target = [*("-ac", "1", "-ar", str(RATE), "-y", str(out))] if out else ["-f", "null", "-"]
    err = await run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", filters, *target], memory_mb=memory_mb
    )
    return _summary(err, path.name)


async def level(
    src: Path, out: Path, lufs: float, peak: float, highpass: float = 0.0, memory_mb: int = 0
) -> tuple[float, float]:
    """Bring to `lufs` with one gain, a limiter holding the peaks under `peak` (espeak is peaky)."""
    hp = f"highpass=f={highpass}," if highpass else ""
    loudness, _ = await measure(src, hp.rstrip(","), memory_mb=memory_mb)
    limit = 10 ** ((peak - LIMITER_MARGIN) / 20)
    gain = lufs - loudness
    for _ in range(3):
        chain = f"{hp}volume={gain:.2f}dB,alimiter=limit={limit:.4f}:attack=2:release=50:level=false"
        got, tp = await measure(src, chain, out, memory_mb)
        if abs(got - lufs) <= 0.3:
            break
        gain += lufs - got  # the limiter took some loudness away: ask for that much more
    return got, tp


@dataclass(frozen=True)
class Recipe:
    """Everything that shapes the sound; its hash names the cached file."""

    speech: str  # the normalised text, or "clip:<sha256 of the clip>"
    voice: str
    rate: int
    repeat: int
    gap: float
    chime: str
    target_lufs: float
    true_peak: float
    chime_lufs: float
    highpass: float
    version: int = VERSION

    @property
    def key(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Rendered:
    key: str
    wav: Path
    seconds: float
    cached: bool
    spoken: str


def _wav_seconds(path: Path) -> float:
    size = path.stat().st_size
    return max(0.0, (size - 44) / (2 * RATE))


class Renderer:
    def __init__(self, config: AudioConfig, synthesizer: Synthesizer | None = None) -> None:
        self.config = config
        self.synth = synthesizer or Espeak(config.voice, config.rate, config.max_memory_mb)
        self.cache = Path(config.cache_dir)
        # pydub work runs here, one thread, off the event loop
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="loa-audio")
        self._locks: dict[str, asyncio.Lock] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def abbreviations(self) -> dict[str, str]:
        if not self.config.abbreviations_file:
            return {}
        path = Path(self.config.abbreviations_file)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise AudioError(f"abbreviations file {path}: {e}") from None
        return {str(k): str(v) for k, v in data.items()}

    def _chime_id(self) -> str:
        if not self.config.chime:
            return "generated-v1"
        return "file:" + hashlib.sha256(Path(self.config.chime).read_bytes()).hexdigest()[:16]

    def recipe(self, *, text: str | None = None, clip_sha: str | None = None, repeat: int | None = None) -> Recipe:
        if (text is None) == (clip_sha is None):
            raise InvalidRequest("Cần văn bản hoặc một đoạn ghi âm (text or clip)", field="text")
        if text is not None and not text.strip():
            raise InvalidRequest("Văn bản trống", field="text")
        if text is not None and len(text) > self.config.max_text:
            raise InvalidRequest(
                f"Văn bản dài {len(text)} ký tự; đọc được tối đa {self.config.max_text} ký tự một thông báo",
                field="text",
            )
        if repeat is not None and not 1 <= repeat <= 5:
            raise InvalidRequest("repeat phải từ 1 đến 5", field="repeat")
        c = self.config
        speech = normalise(text, self.abbreviations()) if text is not None else f"clip:{clip_sha}"
        return Recipe(speech, c.voice, c.rate, repeat or c.repeat, c.gap, self._chime_id(), c.target_lufs,
                      c.true_peak, c.chime_lufs, c.highpass)  # fmt: skip

    async def store_clip(self, data: bytes) -> str:
        """Keep an uploaded recording (any format ffmpeg reads) as mono WAV; return its hash."""
        sha = hashlib.sha256(data).hexdigest()
        out = self.cache / "clips" / f"{sha}.wav"
        if out.exists():
            return sha
        out.parent.mkdir(parents=True, exist_ok=True)
        limit = self.config.max_clip_seconds
        with tempfile.TemporaryDirectory() as d:
            src = Path(d) / "upload"
            src.write_bytes(data)
            demuxer = await self._probe_clip(data)
            try:
                # the probed format forced, local files only, at most the limit (+1 s to tell "too long")
                await run(["ffmpeg", "-hide_banner", "-nostats", "-y", "-protocol_whitelist", "file",
                           "-f", demuxer, "-i", str(src), "-t", str(limit + 1), "-vn", "-ac", "1", "-ar", str(RATE),
                           str(Path(d) / "clip.wav")], memory_mb=self.config.max_memory_mb)  # fmt: skip
            except AudioError:
                raise InvalidRequest("Tệp ghi âm không đọc được (ffmpeg cannot read it)", field="clip") from None
            seconds = _wav_seconds(Path(d) / "clip.wav")
            if seconds > limit:
                raise InvalidRequest(f"Đoạn ghi âm dài quá {limit:.0f} giây", field="clip")
            if seconds < 0.1:
                raise InvalidRequest("Tệp ghi âm không có tiếng (no audio)", field="clip")
            shutil.move(str(Path(d) / "clip.wav"), out)
        return sha

    async def _probe_clip(self, data: bytes) -> str:
        """The upload's container, read from the bytes through a pipe (so a playlist cannot open the
        files it names); refused unless it is a plain audio format."""
        proc = await asyncio.create_subprocess_exec(
            "ffprobe", "-v", "error", "-protocol_whitelist", "pipe", "-show_entries", "format=format_name",
            "-of", "default=nw=1:nk=1", "-i", "pipe:0",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        found, _ = await proc.communicate(data)
        name = found.decode("ascii", "replace").strip()
        if proc.returncode != 0 or name not in CLIP_FORMATS:
            raise InvalidRequest(
                f"Tệp ghi âm phải là WAV, MP3, OGG, M4A, AMR, FLAC hoặc WebM (not {name or 'audio'})", field="clip"
            )
        return name.split(",")[0]

    def _room(self) -> None:
        """A render (up to ~40 MB) may not eat into [audio] reserve_mb: the disk's last space is the
        alerts' and the SMS queue's."""
        try:
            free = shutil.disk_usage(self.cache).free / 2**20
        except OSError:
            return
        if free < self.config.reserve_mb:
            raise DiskFull(
                f"Ổ đĩa gần đầy: còn {free:.0f} MB, dành {self.config.reserve_mb} MB cho cảnh báo và tin nhắn;"
                " không tạo thêm âm thanh cho tới khi dọn bớt (disk nearly full: renders refused)",
                field="text",
            )

    async def render(self, recipe: Recipe) -> Rendered:
        out = self.cache / f"{recipe.key}.wav"
        lock = self._locks.setdefault(recipe.key, asyncio.Lock())
        async with lock:
            if out.exists():
                return Rendered(recipe.key, out, _wav_seconds(out), True, recipe.speech)
            self.cache.mkdir(parents=True, exist_ok=True)
            self._room()
            with tempfile.TemporaryDirectory(dir=self.cache) as d:
                tmp = Path(d)
                raw = tmp / "speech.wav"
                if recipe.speech.startswith("clip:"):
                    clip = self.cache / "clips" / f"{recipe.speech[5:]}.wav"
                    if not clip.exists():
                        raise InvalidRequest("Không có đoạn ghi âm này (unknown clip)", field="clip")
                    shutil.copy(clip, raw)
                else:
                    await self.synth.synthesize(recipe.speech, raw)
                # refused before any of it is assembled: the whole is speech × repeat, pauses, two chimes
                whole = _wav_seconds(raw) * recipe.repeat + recipe.gap * (recipe.repeat - 1) + 4.0
                if whole > self.config.max_seconds:
                    raise InvalidRequest(
                        f"Thông báo sẽ dài {whole / 60:.0f} phút; tối đa {self.config.max_seconds / 60:.0f} phút"
                        " (bớt lời hoặc bớt số lần đọc)",
                        field="text",
                    )
                memory = self.config.max_memory_mb
                speech = tmp / "speech-level.wav"
                await level(raw, speech, recipe.target_lufs, recipe.true_peak, self.config.highpass, memory)
                chime = await self._chime(recipe)
                joined = tmp / "joined.wav"
                await self._in_pool(_assemble, chime, speech, joined, recipe.repeat, recipe.gap)
                final = tmp / "final.wav"
                loudness, peak = await measure(joined, memory_mb=memory)
                if abs(loudness - recipe.target_lufs) > 0.5 or peak > recipe.true_peak:
                    # the chime and the pauses moved the whole: level it once more as one
                    await level(joined, final, recipe.target_lufs, recipe.true_peak, memory_mb=memory)
                else:
                    joined.replace(final)
                final.replace(out)
        log.info("rendered %s (%.1f s)", out.name, _wav_seconds(out))
        return Rendered(recipe.key, out, _wav_seconds(out), False, recipe.speech)

    async def _chime(self, recipe: Recipe) -> Path:
        """The chime, levelled on its own once and kept."""
        shape = f"{recipe.chime}|{recipe.chime_lufs}|{recipe.true_peak}|{VERSION}"
        out = self.cache / f"chime-{hashlib.sha256(shape.encode()).hexdigest()[:16]}.wav"
        if out.exists():
            return out
        with tempfile.TemporaryDirectory(dir=self.cache) as d:
            src = Path(self.config.chime) if self.config.chime else Path(d) / "chime-raw.wav"
            if not self.config.chime:
                await self._in_pool(_make_chime, src)
            tmp = Path(d) / "chime.wav"
            await level(src, tmp, recipe.chime_lufs, recipe.true_peak)
            tmp.replace(out)
        return out

    async def preview(self, key: str, fmt: str = "mp3") -> Path:
        """An MP3 (or OGG) of a cached render, for the browser."""
        if not re.fullmatch(r"[0-9a-f]{24}", key) or fmt not in ("mp3", "ogg"):
            raise InvalidRequest("Bản xem trước không hợp lệ", field="key")
        wav = self.cache / f"{key}.wav"
        if not wav.exists():
            raise InvalidRequest("Chưa có âm thanh này (render it first)", field="key")
        out = self.cache / f"{key}.{fmt}"
        # a new draft's page asks for its preview more than once at the same moment: one encode, the
        # others wait for it (they used to write one temporary file together and answer 500)
        async with self._locks.setdefault(f"{key}.{fmt}", asyncio.Lock()):
            if not out.exists():
                codec = (
                    ["-codec:a", "libmp3lame", "-b:a", "64k"]
                    if fmt == "mp3"
                    else ["-codec:a", "libvorbis", "-q:a", "3"]
                )
                tmp = out.with_suffix(f".tmp.{fmt}")
                await run(["ffmpeg", "-hide_banner", "-nostats", "-y", "-i", str(wav), *codec, str(tmp)])
                tmp.replace(out)
        return out

    async def _in_pool(self, fn: object, *args: object) -> None:
        await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)  # type: ignore[arg-type]


class DiskFull(LoaError):
    """No room for a render without eating the reserve that keeps alerts and SMS working."""

    status = 507


def prune(cache: Path, keep: set[str], now: float, max_age: float, max_bytes: int) -> list[Path]:
    """Rendered audio (and its MP3/OGG previews) older than `max_age`, then the oldest beyond
    `max_bytes` in all, removed; never a render in `keep` (drafts and scheduled announcements),
    never an uploaded clip or the chime. Returns what was removed."""
    renders = []
    for path in cache.glob("*.*") if cache.is_dir() else []:
        key = path.name.split(".", 1)[0]
        if re.fullmatch(r"[0-9a-f]{24}", key) and key not in keep:
            renders.append((path.stat().st_mtime, path.stat().st_size, path))
    renders.sort()
    total = sum(path.stat().st_size for path in cache.glob("*.*")) if cache.is_dir() else 0
    removed = []
    for mtime, size, path in renders:
        if now - mtime > max_age or total > max_bytes:
            path.unlink(missing_ok=True)
            total -= size
            removed.append(path)
    return removed


def _pydub() -> Any:
    with warnings.catch_warnings():
        # pydub imports audioop, deprecated in 3.11 and gone in 3.13 (pydub then needs audioop-lts)
        warnings.simplefilter("ignore", DeprecationWarning)
        import pydub
        import pydub.generators
    return pydub


def _make_chime(out: Path) -> None:
    pydub = _pydub()
    tones = [(784, 280), (1047, 420)]  # G5 then C6: a two-note "ding-dong"
    chime = pydub.AudioSegment.silent(duration=0, frame_rate=RATE)
    for freq, ms in tones:
        chime += (
            pydub.generators.Sine(freq, sample_rate=RATE).to_audio_segment(duration=ms).fade_in(10).fade_out(ms // 2)
        )
    with out.open("wb") as f:  # pydub leaves files it opened itself open
        chime.set_channels(1).export(f, format="wav")


def _assemble(chime_path: Path, speech_path: Path, out: Path, repeat: int, gap: float) -> None:
    pydub = _pydub()
    with chime_path.open("rb") as f:
        chime = pydub.AudioSegment.from_wav(f)
    with speech_path.open("rb") as f:
        speech = pydub.AudioSegment.from_wav(f)
    pause = pydub.AudioSegment.silent(duration=int(gap * 1000), frame_rate=RATE)
    short = pydub.AudioSegment.silent(duration=600, frame_rate=RATE)
    body = speech
    for _ in range(repeat - 1):
        body += pause + speech
    whole = chime + short + body + short + chime
    with out.open("wb") as f:
        whole.set_channels(1).set_frame_rate(RATE).set_sample_width(2).export(f, format="wav")
