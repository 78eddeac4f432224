"""`loa restore` of a backup taken mid-batch, after more traffic: nothing the network took is sent again,
nothing accepted or received since is lost, what differs is said (issue #31); and the restore's own
checks (#30 item 13)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import aiohttp

from gateway.testing import AUTH, EmulatedModem, wait_sent
from tests.test_faults import _process_config, _start_process

LOA = [sys.executable, "-m", "gateway.cli"]


async def _stop(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        await proc.wait()


def _loa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOA, *args], capture_output=True, text=True, timeout=60)


async def test_a_restore_after_more_traffic_resends_nothing_and_loses_nothing(
    emulator: EmulatedModem, tmp_path: Path
) -> None:
    emulator.submit_delay = 0.15  # the backup is taken while most of the batch is still to go
    cfg, log = _process_config(tmp_path, emulator), tmp_path / "gateway.log"
    usb = tmp_path / "usb"
    numbers = [f"+8491{i:07d}" for i in range(30)]
    proc, url = await _start_process(cfg, log)
    async with aiohttp.ClientSession() as http:
        resp = await http.post(f"{url}/api/v1/messages", json={"to": numbers, "text": "Họp thôn 20h"}, headers=AUTH)
        assert resp.status == 202
        await wait_sent(emulator, 5)
        made = await asyncio.to_thread(_loa, "backup", "--to", str(usb), "--config", str(cfg))  # mid-batch
        assert made.returncode == 0, made.stderr
        await wait_sent(emulator, len(numbers), timeout=60)
        # more traffic after the backup: accepted messages and residents' SMS
        later = [f"+8492{i:07d}" for i in range(5)]
        resp = await http.post(f"{url}/api/v1/messages", json={"to": later, "text": "Lịch tiêm"}, headers=AUTH)
        assert resp.status == 202
        for i in range(3):
            emulator.deliver("+84961234567", f"Hỏi {i}: giờ họp?")
        await wait_sent(emulator, len(numbers) + len(later), timeout=60)
        async with asyncio.timeout(30):
            while True:
                got = (await (await http.get(f"{url}/api/v1/inbox?limit=50", headers=AUTH)).json())["messages"]
                if len(got) == 3:
                    break
                await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # their answers, if any, go out
        await _stop(proc)
        sent_before = Counter(m.number for m in emulator.messages())

        (copy,) = usb.iterdir()
        done = await asyncio.to_thread(_loa, "restore", str(copy), "--yes", "--config", str(cfg))
        assert done.returncode == 0, done.stderr
        assert "đã gửi sau bản sao" in done.stdout and "tin nhắn đến sau bản sao" in done.stdout

        proc, url = await _start_process(cfg, log)
        try:
            async with asyncio.timeout(30):
                while True:
                    health = await (await http.get(f"{url}/healthz")).json()
                    if health["modem"]["connected"] and health["outbox"]["queued"] == 0:
                        break
                    await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # a resend would start at once
            assert Counter(m.number for m in emulator.messages()) == sent_before, "sent again after the restore"
            inbox = await (await http.get(f"{url}/api/v1/inbox?limit=50", headers=AUTH)).json()
            assert sorted(m["text"] for m in inbox["messages"]) == [f"Hỏi {i}: giờ họp?" for i in range(3)]
        finally:
            await _stop(proc)


def test_restore_refuses_the_live_database_onto_itself_and_a_file_that_is_not_a_backup(tmp_path: Path) -> None:
    database = tmp_path / "loa.sqlite3"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{database}"\n', encoding="utf-8")
    made = _loa("backup", "--to", str(tmp_path / "usb"), "--config", str(config))
    assert made.returncode == 2  # no database yet
    import sqlite3

    from gateway.app import MIGRATIONS  # noqa: F401  (the tables a Loa database has)

    with sqlite3.connect(database) as db:
        db.execute("create table _migrations (name text primary key, applied_at real)")
    db.close()
    for bad in (str(database), "/dev/null", str(tmp_path / "empty.sqlite3")):
        Path(tmp_path / "empty.sqlite3").touch()
        refused = _loa("restore", bad, "--config", str(config))
        assert refused.returncode == 2 and "Không khôi phục" in refused.stderr, (bad, refused.stderr)
    # two restores within one second: the first kept copy is not overwritten
    backup = tmp_path / "backup.sqlite3"
    with sqlite3.connect(backup) as db:
        db.execute("create table _migrations (name text primary key, applied_at real)")
    db.close()
    for _ in range(2):
        assert _loa("restore", str(backup), "--yes", "--config", str(config)).returncode == 0
    assert len(list(tmp_path.glob("loa.sqlite3.replaced-*"))) == 2
