"""`loa doctor`: what the person who keeps the Pi checks, each line OK / WARN / FAIL with what to do."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from audio.player import make_player, make_relay
from gateway.config import Config, all_modems
from gateway.core import backup
from gateway.core.errors import LoaError
from gateway.sms.at import probe
from gateway.sms.config import ModemConfig

TOOLS = {
    "espeak-ng": "espeak-ng",
    "ffmpeg": "ffmpeg",
    "ffprobe": "ffmpeg",
    "prlimit": "util-linux",
    "aplay": "alsa-utils",
}


@dataclass(frozen=True)
class Check:
    status: str  # OK, WARN or FAIL
    what: str  # Vietnamese first, then English in brackets where it helps the person who keeps the Pi
    todo: str = ""

    def line(self) -> str:
        return f"{self.status:<4} {self.what}" + (f"\n     → {self.todo}" if self.todo else "")


def database(config: Config) -> list[Check]:
    path = Path(config.database.path)
    if not path.exists():
        return [Check("WARN", f"Chưa có cơ sở dữ liệu {path} (no database yet)", "`loa run` tạo ra khi chạy lần đầu")]
    found = backup.check(path)
    size = path.stat().st_size / 2**20
    if found != "ok":
        return [Check("FAIL", f"Cơ sở dữ liệu {path} hỏng: {found} (integrity check failed)",
                      "dừng Loa, rồi `loa restore <bản sao lưu mới nhất>`")]  # fmt: skip
    checks = [Check("OK", f"Cơ sở dữ liệu {path}: nguyên vẹn, {size:.1f} MB (integrity ok)")]
    if not os.access(path, os.W_OK):
        checks.append(
            Check("FAIL", f"Không ghi được {path} (not writable by this user)", "chạy bằng tài khoản của Loa")
        )
    elif path.stat().st_mode & 0o077:
        checks.append(Check("WARN", f"Người khác đọc được {path} (readable by others)", f"chmod 600 {path}"))
    free = shutil.disk_usage(path.parent).free / 2**20
    if free < 100:
        checks.append(Check("FAIL", f"Ổ đĩa gần đầy: còn {free:.0f} MB (disk nearly full)",
                            "xoá bớt tệp, hoặc dùng thẻ nhớ lớn hơn; Loa ngừng nhận việc mới khi đầy"))  # fmt: skip
    elif free < 1024:
        checks.append(Check("WARN", f"Ổ đĩa còn {free:.0f} MB (disk space low)", "dọn bớt trước khi đầy"))
    else:
        checks.append(Check("OK", f"Ổ đĩa còn {free / 1024:.1f} GB (disk space)"))
    return checks


def backups(config: Config, today: date) -> Check:
    if not config.backup.path:
        return Check("WARN", "Không sao lưu: [backup] path trống (no daily backup)",
                     "đặt [backup] path là thư mục trên USB, ví dụ /media/loa-backup")  # fmt: skip
    folder = Path(config.backup.path)
    if not folder.is_dir():
        return Check("FAIL", f"Không thấy thư mục sao lưu {folder} (backup folder missing)",
                     "cắm lại USB và kiểm tra nó được gắn (mount) khi khởi động")  # fmt: skip
    days = backup.dates(folder)
    if not days:
        return Check("WARN", f"Chưa có bản sao lưu nào trong {folder} (no backup yet)", "`loa backup` làm ngay một bản")
    age = (today - days[0]).days
    if age > 2:
        return Check("WARN", f"Bản sao lưu mới nhất đã {age} ngày (latest backup {days[0]})",
                     "xem nhật ký của Loa: USB có bị rút không?")  # fmt: skip
    return Check("OK", f"Sao lưu mới nhất {days[0]} trong {folder} ({len(days)} bản)")


def tools(config: Config) -> list[Check]:
    needed = dict(TOOLS)
    if config.player.kind != "aplay":
        needed.pop("aplay")
    missing = [f"{tool} (apt-get install {package})" for tool, package in needed.items() if not shutil.which(tool)]
    if missing:
        return [Check("FAIL", "Thiếu chương trình: " + ", ".join(missing), "`make run` cài chúng khi chạy bằng root")]
    return [Check("OK", "Có đủ espeak-ng, ffmpeg" + (", aplay" if "aplay" in needed else ""))]


def clock(config: Config) -> Check:
    """A Pi has no battery clock: after a power cut it may run on the time it last saved."""
    latest = max((p.stat().st_mtime for p in Path(config.database.path).parent.glob("*") if p.is_file()), default=0)
    if latest and time.time() < latest - 60:
        return Check("FAIL", "Đồng hồ máy chạy lùi: giờ hiện tại sớm hơn lần ghi dữ liệu cuối (clock behind)",
                     "đặt lại giờ (sudo date -s …) hoặc cho Pi kết nối mạng để lấy giờ NTP")  # fmt: skip
    try:
        answer = subprocess.run(
            ["timedatectl", "show", "-p", "NTPSynchronized", "--value"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        answer = None
    if answer is None or answer.returncode != 0:
        return Check("WARN", "Không biết giờ có được đồng bộ không (no timedatectl / systemd)",
                     "kiểm tra giờ bằng `date` so với điện thoại")  # fmt: skip
    if answer.stdout.strip() != "yes":
        return Check("WARN", "Giờ chưa đồng bộ NTP (clock not synchronised)", "cho Pi kết nối mạng; kiểm tra `date`")
    return Check("OK", "Giờ đã đồng bộ NTP (clock synchronised)")


async def modem(config: Config) -> Check:
    """Every modem of the pool answers, with its SIM ready; one Check for them all (the worst)."""
    modems = all_modems(config)
    if not modems:
        return Check("OK", "Không có modem: chỉ gửi qua SMPP (no modem: SMPP only)")
    checks = [await _one_modem(m) for m in modems]
    order = {"OK": 0, "WARN": 1, "FAIL": 2}
    worst = max(checks, key=lambda c: order.get(c.status, 2))
    if len(checks) == 1:
        return worst
    return Check(worst.status, " · ".join(f"{m.name}: {c.what}" for m, c in zip(modems, checks, strict=True)),
                 worst.todo)  # fmt: skip


async def _one_modem(modem: ModemConfig) -> Check:
    port = modem.port
    if modem.emulated:
        return Check("WARN", "Đang dùng modem giả lập (emulated modem: nothing reaches a phone)",
                     "`loa modems` tìm cổng của modem thật, rồi đặt [modem] port")  # fmt: skip
    try:
        async with asyncio.timeout(30):
            found = await probe(port)
    except (OSError, LoaError, TimeoutError) as e:
        return Check("FAIL", f"Modem ở {port} không trả lời ({getattr(e, 'message', e) or type(e).__name__})",
                     "Loa có đang chạy không (nó giữ cổng)? Cắm lại modem; `loa modems` tìm cổng")  # fmt: skip
    sim = found.get("sim") or "?"
    status = "OK" if sim.upper() == "READY" else "FAIL"
    what = f"Modem {port}: {(found['manufacturer'] or '?').strip()} {(found['model'] or '?').strip()}, SIM {sim}"
    if found.get("generation") == "2g":  # nothing left for it to register on in Vietnam
        return Check("FAIL", what, found.get("coverage") or "")
    if found.get("coverage") and status == "OK":
        return Check("WARN", what, found["coverage"] or "")
    from gateway.sms.at.ports import at_port, usb_interface  # here: the imports above are the lead's to change

    known = at_port(found["manufacturer"], found["model"])
    if known and status == "OK" and usb_interface(port) not in (None, known[0]):
        return Check("WARN", what, f"cổng AT của modem này là {known[1]} (USB interface {known[0]}); đặt [modem] port")
    return Check(status, what)


SOUND_DEVICES = Path("/dev/snd")


def _has_sound_device() -> bool:
    return SOUND_DEVICES.exists()


async def sound(config: Config) -> Check:
    """A short tone through the configured player: what the loudspeakers would get."""
    if config.player.kind == "recording":
        return Check("WARN", "Không phát ra loa: [player] kind = recording (records only)",
                     'đặt [player] kind = "aplay" trên Pi có loa')  # fmt: skip
    no_device = not _has_sound_device()
    with tempfile.TemporaryDirectory() as d:
        tone = Path(d) / "tone.wav"
        made = await asyncio.create_subprocess_exec(
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=880:duration=0.5",
            "-y", str(tone), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        if await made.wait() != 0:
            return Check("FAIL", "Không tạo được tiếng thử (ffmpeg failed)", "apt-get install ffmpeg")
        try:
            async with asyncio.timeout(15):
                await make_player(config.player).play(tone)
        except (OSError, RuntimeError, TimeoutError) as e:
            said = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
            if config.player.kind == "aplay" and no_device:
                said = f"máy này không có thiết bị âm thanh (no sound device: /dev/snd missing; {said})"
            return Check("FAIL", f"Không phát được âm thanh qua {config.player.kind}: {said}",
                         "không có card âm thanh? `aplay -l` liệt kê; đặt [player] device")  # fmt: skip
    return Check("OK", f"Đã phát tiếng thử 0,5 giây qua {config.player.kind} (a tone was played: did you hear it?)")


async def relay(config: Config, toggle: bool) -> Check:
    if config.player.relay == "none":
        return Check("OK", "Không dùng rơ-le bật âm ly (no amplifier relay)")
    if not toggle:
        return Check("WARN", f"Rơ-le ({config.player.relay}) chưa thử", "`loa doctor --relay` bật rồi tắt âm ly")
    try:
        switch = make_relay(config.player)
        await switch.set(True)
        await asyncio.sleep(1.0)
        await switch.set(False)
    except Exception as e:  # any driver: the person needs the words, not the type
        return Check("FAIL", f"Không bật/tắt được rơ-le ({config.player.relay}): {e}",
                     "kiểm tra [player] relay_pin và quyền nhóm gpio")  # fmt: skip
    return Check("OK", f"Rơ-le ({config.player.relay}) đã bật 1 giây rồi tắt (did the amplifier click?)")


async def run(config: Config, *, toggle_relay: bool = False) -> list[Check]:
    checks = [Check("OK", f"Cấu hình đọc được ({config.source})")]
    checks += database(config)
    checks.append(backups(config, date.today()))
    checks += tools(config)
    checks.append(clock(config))
    checks.append(await modem(config))
    checks.append(await sound(config))
    checks.append(await relay(config, toggle_relay))
    return checks
