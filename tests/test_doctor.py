"""`loa doctor` as the person keeping the Pi runs it: a machine without sound, a broken database, all well."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from gateway.app import MIGRATIONS
from gateway.core.store import Store

LOA = [sys.executable, "-m", "gateway.cli"]


def doctor(tmp_path: Path, toml: str, *extra: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "data" / "loa.sqlite3"}"\n{toml}', encoding="utf-8")
    return subprocess.run(
        [*LOA, "doctor", "--config", str(config), *extra], capture_output=True, text=True, timeout=120
    )


def make_database(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "loa.sqlite3"

    async def create() -> None:
        store = Store(path, MIGRATIONS)
        await store.open()
        await store.close()

    asyncio.run(create())
    return path


def test_no_sound_device_is_said_plainly_and_fails(tmp_path: Path) -> None:
    make_database(tmp_path)
    done = doctor(tmp_path, '[player]\nkind = "aplay"\ndevice = "plughw:9,0"\n')
    assert done.returncode == 1
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("FAIL")]
    assert "Không phát được âm thanh qua aplay" in line
    assert "aplay -l" in done.stdout  # what to do next
    assert "1 lỗi" in done.stdout


def test_a_broken_database_fails_with_what_to_do(tmp_path: Path) -> None:
    path = make_database(tmp_path)
    with path.open("r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 4000)  # the schema page overwritten, as a dying SD card does
    done = doctor(tmp_path, '[player]\nkind = "recording"\n')
    assert done.returncode == 1
    assert any(x.startswith("FAIL Cơ sở dữ liệu") and "hỏng" in x for x in done.stdout.splitlines()), done.stdout
    assert "loa restore" in done.stdout


def test_a_healthy_install_passes_and_says_what_is_only_a_warning(tmp_path: Path) -> None:
    make_database(tmp_path)
    usb = tmp_path / "usb"
    config = f'[backup]\npath = "{usb}"\n[player]\nkind = "recording"\nrelay = "recording"\n'
    (tmp_path / "c.toml").write_text(f'[database]\npath = "{tmp_path / "data" / "loa.sqlite3"}"\n{config}')
    made = subprocess.run([*LOA, "backup", "--config", str(tmp_path / "c.toml")], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    done = doctor(tmp_path, config, "--relay")
    assert done.returncode == 0, done.stdout
    lines = done.stdout.splitlines()
    assert not [x for x in lines if x.startswith("FAIL")]
    assert any(x.startswith("OK   Cơ sở dữ liệu") and "nguyên vẹn" in x for x in lines)
    assert any(x.startswith("OK   Sao lưu mới nhất") for x in lines)
    assert any(x.startswith("OK   Rơ-le (recording) đã bật 1 giây rồi tắt") for x in lines)
    assert any(x.startswith("WARN Đang dùng modem giả lập") for x in lines)
