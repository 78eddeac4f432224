"""The systemd pieces without systemd: the unit verified by systemd-analyze, sd_notify on a socket the
test opens (READY, WATCHDOG while alive, STOPPING), and `make install` as it would run."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from gateway import service
from gateway.app import MIGRATIONS
from gateway.core.notify import Notifier
from gateway.core.store import Store
from gateway.sms.at import ATModem
from gateway.sms.config import SmsConfig
from gateway.sms.inbox import Inbox
from gateway.sms.router import Router
from gateway.testing import make_config
from schedules.scheduler import Scheduler

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "loa.service"


def test_the_unit_file_is_what_systemd_accepts(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    text = UNIT.read_text(encoding="utf-8")
    for line in ("Type=notify", "WatchdogSec=60", "Restart=always", "ProtectSystem=strict",
                 "NoNewPrivileges=true", "PrivateTmp=true", "SupplementaryGroups=dialout audio gpio",
                 "ReadWritePaths=/var/lib/loa"):  # fmt: skip
        assert line in text, line
    # verify checks that ExecStart exists: point it at this checkout's loa for the check
    unit = tmp_path / "loa.service"
    unit.write_text(text.replace("/opt/loa/venv/bin/loa", str(Path(sys.executable).parent / "loa")), encoding="utf-8")
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_ready_then_watchdog_pings_then_stopping(tmp_path: Path) -> None:
    address = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)
    (tmp_path / "config.toml").write_text(
        f'[http]\nport = 0\n[database]\npath = "{tmp_path / "loa.sqlite3"}"\n[player]\nkind = "recording"\n'
        f'[api]\ntokens = ["service-test-token-01"]\n',
        encoding="utf-8",
    )
    env = os.environ | {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1000000", "JOURNAL_STREAM": "8:1"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "run", "--config", str(tmp_path / "config.toml")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sock.recv(100) == b"READY=1"
        started = time.monotonic()
        pings = [sock.recv(100) for _ in range(3)]
        assert pings == [b"WATCHDOG=1"] * 3
        assert time.monotonic() - started < 3.0  # every half WatchdogSec (0.5 s here)
        proc.send_signal(signal.SIGTERM)
        while (message := sock.recv(100)) == b"WATCHDOG=1":
            pass
        assert message == b"STOPPING=1"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        sock.close()
    assert proc.stderr is not None
    with proc.stderr:
        logged = proc.stderr.read()
    first = next(line for line in logged.splitlines() if "database" in line)
    assert first.startswith("INFO "), first  # under journald, no time stamp of our own


async def test_no_watchdog_ping_while_the_store_hangs_or_the_modem_supervisor_is_gone(
    tmp_path: Path, emulator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    store = Store(tmp_path / "loa.sqlite3", MIGRATIONS)
    await store.open()
    modem = ATModem(make_config(tmp_path, emulator.path).modem, port=emulator.path)
    await modem.start(Inbox(store, Notifier(), time.time, SmsConfig(), Router(store, Notifier(), time.time, []).submit,
                            Scheduler(time.time)))  # fmt: skip

    def pings() -> int:
        n = 0
        with contextlib.suppress(BlockingIOError):
            while sock.recv(100) == b"WATCHDOG=1":
                n += 1
        return n

    dog = asyncio.create_task(service.watchdog(store, modem, 0.1))
    try:
        await asyncio.sleep(0.5)
        assert pings() >= 3  # all alive
        hang = asyncio.create_task(store.call(lambda db: time.sleep(0.8)))
        await asyncio.sleep(0.05)
        pings()
        await asyncio.sleep(0.6)
        assert pings() == 0  # the store thread is stuck: silence, and systemd would restart Loa
        await hang
        await asyncio.sleep(0.4)
        assert pings() >= 2  # it answers again
        await modem.close()
        pings()
        await asyncio.sleep(0.4)
        assert pings() == 0  # no modem supervisor: silence
    finally:
        dog.cancel()
        await asyncio.gather(dog, return_exceptions=True)
        await modem.close()
        await store.close()
        sock.close()


def test_make_install_does_what_it_says_and_only_as_root() -> None:
    if os.geteuid() == 0:
        done = subprocess.run(["make", "-n", "install"], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode == 0
        commands = done.stdout
        for step in ("useradd --system", "install -d -m 0700 -o loa -g loa /var/lib/loa",
                     "sed 's|= \"data/|= \"/var/lib/loa/|' config.example.toml > /etc/loa/config.toml",
                     "install -m 0644 deploy/loa.service /etc/systemd/system/loa.service"):  # fmt: skip
            assert step in commands, step
    else:
        done = subprocess.run(["make", "install"], cwd=ROOT, capture_output=True, text=True)
        assert done.returncode != 0 and "needs root" in done.stdout
