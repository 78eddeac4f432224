"""`loa run` with the Pi's clock an hour ahead (libfaketime preloaded): nothing set for a time of day
fires before the clock is judged, and records a wrong clock wrote leave no trap (issue #31)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.testing import AUTH, EmulatedModem
from gateway.testing.helpers import VN
from tests.test_faults import _process_config

FAKETIME = next(
    (p for p in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/"
                 "libfaketime.so.1", "/usr/lib/faketime/libfaketime.so.1") if Path(p).exists()), None
)  # fmt: skip
pytestmark = pytest.mark.skipif(FAKETIME is None, reason="libfaketime is not installed (Makefile DEBS)")
CONTACT = "0912000001"


async def _run(cfg: Path, log: Path, offset: str | None) -> tuple[asyncio.subprocess.Process, str]:
    """`loa run`, its wall clock `offset` off ("+1h") by libfaketime; monotonic time stays real."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if offset:
        assert FAKETIME is not None
        env |= {"LD_PRELOAD": FAKETIME, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
                "FAKETIME_NO_CACHE": "1"}  # fmt: skip
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "run", "--config", str(cfg),
            stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env,
        )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, f"gateway exited: {log.read_text()[-2000:]}"
            if m := re.search(r"serving on (http://\S+)", line):
                return proc, m.group(1)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        await proc.wait()


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def _health(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    return dict(await (await http.get(f"{url}/healthz")).json())


def _local(when: float) -> str:
    return datetime.fromtimestamp(when, VN).strftime("%Y-%m-%dT%H:%M")


async def test_with_the_clock_an_hour_ahead_a_reminder_due_soon_waits_for_the_modems_time(
    emulator: EmulatedModem, tmp_path: Path
) -> None:
    assert shutil.which("faketime") or FAKETIME
    cfg, log = _process_config(tmp_path, emulator), tmp_path / "gateway.log"
    cfg.write_text(cfg.read_text() + "[broadcasts]\nmisfire_grace = 600\n")
    proc, url = await _run(cfg, log, None)
    async with aiohttp.ClientSession() as http:
        # at the right time: a reminder for 58 minutes from now, which the clock an hour ahead will see
        # as due a minute or two ago (within the grace): it would go an hour early
        when = {"at": _local(time.time() + 3600 - 120)}
        reminder = {"text": "Họp thôn", "to": {"numbers": [CONTACT]}, "when": when}
        resp = await http.post(f"{url}/api/v1/reminders", json=reminder, headers=AUTH)
        assert resp.status == 201, await resp.text()
        await _stop(proc)
        # the Pi comes back an hour ahead; the modem gives the network's (right) time
        proc, url = await _run(cfg, log, "+1h")
        try:

            async def judged() -> bool:
                health = await _health(http, url)
                return bool(health["modem"]["connected"]) and health["clock"]["network_offset_s"] is not None

            await _poll(judged, 30)
            await asyncio.sleep(2.0)  # the scheduler's turns after the set-up: it would have fired by now
            health = await _health(http, url)
            assert health["clock"]["trusted"] is False
            assert not emulator.messages() and health["outbox"]["queued"] == 0, "the reminder fired by the wrong clock"
        finally:
            await _stop(proc)


async def test_records_a_clock_an_hour_ahead_wrote_do_not_make_the_right_clock_look_behind(
    emulator: EmulatedModem, tmp_path: Path
) -> None:
    emulator.network_time = None  # a network that sends no time; no NTP either
    cfg, log = _process_config(tmp_path, emulator), tmp_path / "gateway.log"
    proc, url = await _run(cfg, log, "+1h")
    async with aiohttp.ClientSession() as http:
        try:
            # the wrong clock writes records (a message sent, an SMS received), stamped an hour ahead
            resp = await http.post(f"{url}/api/v1/messages", json={"to": CONTACT, "text": "Thông báo"}, headers=AUTH)
            assert resp.status == 202
            emulator.deliver("+84961234567", "Hỏi giờ họp")

            async def written() -> bool:
                inbox = await (await http.get(f"{url}/api/v1/inbox?limit=10", headers=AUTH)).json()
                return len(emulator.messages()) >= 1 and len(inbox["messages"]) >= 1

            await _poll(written, 30)
        finally:
            await _stop(proc)
        # the clock is right again (a person set it), still no network time
        proc, url = await _run(cfg, log, None)
        try:

            async def connected() -> bool:
                return bool((await _health(http, url))["modem"]["connected"])

            await _poll(connected, 30)
            clock = (await _health(http, url))["clock"]
            assert clock["trusted"] is True, clock["reason"]
        finally:
            await _stop(proc)
