"""A modem that vanishes or goes silent, and a gateway killed mid-batch: nothing lost, little repeated."""

from __future__ import annotations

import asyncio
import errno
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.core.keys import STORE
from gateway.sms.keys import TRANSPORT
from gateway.testing import AUTH, TOKEN, EmulatedModem, sql, until, wait_inbox, wait_sent

TEXTS = [f"Nhắc lịch tiêm chủng, phiếu {i}" for i in range(20)]


async def post_batch(client: Any) -> None:
    for text in TEXTS:
        resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": text}, headers=AUTH)
        assert resp.status == 202


async def health(client: Any) -> dict[str, Any]:
    return dict(await (await client.get("/healthz")).json())


async def test_modem_vanishes_mid_batch_and_comes_back(emulator: EmulatedModem, start_gateway: Any) -> None:
    emulator.submit_delay = 0.01
    client = await start_gateway(emulator)
    await post_batch(client)
    await wait_sent(emulator, 5)
    await emulator.vanish()

    async def disconnected() -> bool:
        return not client.app[TRANSPORT].info.connected

    await until(client, disconnected)
    seen = await health(client)
    assert seen["modem"]["connected"] is False
    assert seen["status"] == "degraded"
    assert seen["outbox"]["queued"] > 0

    await emulator.come_back()
    await wait_sent(emulator, 20)

    async def all_sent() -> bool:
        rows = await sql(client, "select count(*) from outbox where status='sent'")
        return int(rows[0][0]) == 20

    await until(client, all_sent)
    counts = Counter(m.text for m in emulator.messages())
    assert set(counts) == set(TEXTS)
    assert sum(counts.values()) - len(TEXTS) <= 1, "at most the one message in flight repeats"
    assert (await health(client))["modem"]["connected"] is True


async def test_a_silent_modem_is_noticed_and_reopened(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, modem={"command_timeout": 0.3})
    emulator.faults.silent = True
    await post_batch(client)

    async def disconnected() -> bool:
        return not client.app[TRANSPORT].info.connected

    await until(client, disconnected)
    assert "no answer" in (await health(client))["modem"]["last_error"]
    emulator.faults.silent = False
    received = await wait_sent(emulator, 20)
    assert {m.text for m in received} == set(TEXTS)


async def _start_process(cfg: Path, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.cli",
            "run",
            "--config",
            str(cfg),
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while True:
            line = (await proc.stdout.readline()).decode()
            assert line, f"gateway exited: {log.read_text()[-2000:]}"
            if m := re.search(r"serving on (http://\S+)", line):
                return proc, m.group(1)


def _process_config(tmp_path: Path, emulator: EmulatedModem) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f"""
[http]
port = 0
[database]
path = "{tmp_path / "loa.sqlite3"}"
[modem]
port = "{emulator.path}"
reconnect_min = 0.05
[api]
tokens = ["{TOKEN}"]
""",
        encoding="utf-8",
    )
    return cfg


async def test_sigkill_mid_batch_then_restart_loses_nothing(emulator: EmulatedModem, tmp_path: Path) -> None:
    emulator.submit_delay = 0.05
    cfg = _process_config(tmp_path, emulator)
    log = tmp_path / "gateway.log"
    proc, url = await _start_process(cfg, log)
    async with aiohttp.ClientSession() as http:
        for text in TEXTS:
            resp = await http.post(f"{url}/api/v1/messages", json={"to": "0912345678", "text": text}, headers=AUTH)
            assert resp.status == 202
    await wait_sent(emulator, 6)
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    before = len(emulator.messages())
    assert before < len(TEXTS), "killed mid-batch"

    proc, url = await _start_process(cfg, log)
    try:
        received = await wait_sent(emulator, len(TEXTS), timeout=60)
        counts = Counter(m.text for m in received)
        while set(counts) != set(TEXTS):
            received = await wait_sent(emulator, len(received) + 1, timeout=60)
            counts = Counter(m.text for m in received)
        assert sum(counts.values()) - len(TEXTS) <= 1, f"repeats: {counts.most_common(2)}"
        async with aiohttp.ClientSession() as http:
            body = await (await http.get(f"{url}/healthz")).json()
            assert body["outbox"]["failed"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0


async def test_a_message_the_modem_hangs_on_does_not_hold_the_queue(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    emulator.faults.hang_numbers.add("+84987000222")
    client = await start_gateway(emulator, modem={"send_timeout": 0.3}, sms={"max_tries": 2})
    resp = await client.post("/api/v1/messages", json={"to": "0987000222", "text": "Tin làm treo modem"}, headers=AUTH)
    poison = (await resp.json())["ids"][0]
    await post_batch(client)
    received = await wait_sent(emulator, len(TEXTS))
    assert {m.text for m in received} == set(TEXTS)

    async def failed() -> bool:
        rows = await sql(client, "select status from outbox where id=?", poison)
        return bool(rows[0][0] == "failed")

    await until(client, failed)
    body = await (await client.get(f"/api/v1/messages/{poison}", headers=AUTH)).json()
    assert body["tries"] == 2 and "no answer to AT+CMGS" in body["last_error"]


def _mount_small_disk(where: Path) -> bool:
    where.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    # unbuffered: a buffered file's close would try the refused bytes again and raise ENOSPC itself
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 65536)
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


async def test_a_full_disk_stops_sending_says_why_and_resumes_without_a_repeat(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    if not _mount_small_disk(disk):
        pytest.skip("needs root to mount a 3 MB tmpfs as the full disk")
    try:
        emulator.submit_delay = 0.05
        # min_free_mb 0: this test is about the disk actually filling up, not the early refusal
        client = await start_gateway(emulator, database={"path": str(disk / "loa.sqlite3"), "min_free_mb": 0})
        await post_batch(client)
        await wait_sent(emulator, 3)
        filler = _fill(disk)

        async def refused() -> bool:
            return client.app[STORE].problem is not None

        await until(client, refused)
        seen = await health(client)
        assert seen["status"] == "degraded" and seen["store"]["writable"] is False
        assert "full" in seen["store"]["problem"]
        resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": "Tin mới"}, headers=AUTH)
        assert resp.status == 503 and "full" in (await resp.json())["error"]
        stopped_at = len(emulator.messages())
        assert stopped_at < len(TEXTS)

        filler.unlink()  # space comes back: sending resumes by itself
        received = await wait_sent(emulator, len(TEXTS))

        async def all_sent() -> bool:
            rows = await sql(client, "select count(*) from outbox where status in ('sent','delivered')")
            return int(rows[0][0]) == len(TEXTS)

        await until(client, all_sent)
        assert sorted(m.text for m in received) == sorted(TEXTS), "nothing lost, nothing sent twice"
        assert (await health(client))["store"]["writable"] is True
        await client.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def test_a_read_only_database_at_start_names_the_file_and_why(tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    if not _mount_small_disk(disk):
        pytest.skip("needs root to mount a tmpfs and make it read-only")
    try:
        db = disk / "loa.sqlite3"
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[http]\nport = 0\n[database]\npath = "{db}"\n[modem]\nport = "/dev/null"\n', encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "run", "--config", str(cfg),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
        text = err.decode()
        assert proc.returncode == 1, text
        assert f"loa: Không mở được cơ sở dữ liệu {db}" in text and "not writable" in text
        assert "Traceback" not in text
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def test_sigterm_during_a_send_waits_for_it_and_records_it(emulator: EmulatedModem, tmp_path: Path) -> None:
    emulator.submit_delay = 0.5
    cfg, log = _process_config(tmp_path, emulator), tmp_path / "gateway.log"
    proc, url = await _start_process(cfg, log)
    async with aiohttp.ClientSession() as http:
        for text in TEXTS[:6]:
            resp = await http.post(f"{url}/api/v1/messages", json={"to": "0912345678", "text": text}, headers=AUTH)
            assert resp.status == 202
    await wait_sent(emulator, 2)
    emulator.submitting.clear()
    async with asyncio.timeout(20):
        await emulator.submitting.wait()  # a PDU is with the network, its answer not yet back
    proc.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        assert await proc.wait() == 0
    stopped = len(emulator.messages())
    assert stopped < 6, "stopped mid-batch"

    proc, url = await _start_process(cfg, log)
    try:
        received = await wait_sent(emulator, 6, timeout=60)
        assert sorted(m.text for m in received) == sorted(TEXTS[:6]), "the part in flight was not sent again"
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0


async def test_a_modem_that_hangs_after_taking_a_pdu_is_noticed_at_once_and_lost_after_its_documented_time(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    emulator.submit_delay = 0.05
    # send_timeout stands for the module's documented +CMGS time (60–120 s on real ones): a congested
    # cell may take that long, so only then is the modem called lost (issue #24 item 7)
    client = await start_gateway(emulator, modem={"send_timeout": 4.0, "command_timeout": 2.0})
    await post_batch(client)
    await wait_sent(emulator, len(TEXTS))  # the gateway has measured how long this modem takes
    emulator.faults.hang_numbers.add("+84987000222")
    emulator.submitting.clear()
    resp = await client.post("/api/v1/messages", json={"to": "0987000222", "text": "Tin làm treo modem"}, headers=AUTH)
    assert resp.status == 202
    async with asyncio.timeout(10):
        await emulator.submitting.wait()
    started = asyncio.get_running_loop().time()

    async def overdue() -> bool:
        body = await health(client)
        return body["status"] == "degraded" and body["modem"]["overdue"] is not None

    await until(client, overdue, timeout=5)
    assert (await health(client))["modem"]["overdue"]["exchange"] == "AT+CMGS"

    async def slow() -> bool:
        return bool((await health(client))["modem"]["slow_network"])

    await until(client, slow, timeout=5)  # the dashboard says the network is slow before any loss
    assert client.app[TRANSPORT].info.connected

    why: list[str | None] = []

    async def lost() -> bool:
        info = client.app[TRANSPORT].info
        if not info.connected:
            why.append(info.last_error)
        return bool(why)

    await until(client, lost, timeout=10)
    # the documented time (here 4 s), not the default 120 s
    assert asyncio.get_running_loop().time() - started < 7
    assert "no answer to AT+CMGS" in str(why[0])


async def _fifo_lines(fifo: Path) -> tuple[asyncio.StreamReader, int]:
    """What the player and relay commands write to `fifo`, read without polling; the write end we
    hold keeps the stream open while the gateway restarts."""
    os.mkfifo(fifo)
    read_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    keep = os.open(fifo, os.O_WRONLY)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    return reader, keep


async def _exited(pid: int) -> None:
    loop = asyncio.get_running_loop()
    fd = os.pidfd_open(pid)
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_a_kill_mid_announcement_takes_the_player_with_it_and_the_relay_goes_off_at_start(
    emulator: EmulatedModem, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    lines, keep = await _fifo_lines(events)
    cfg = _process_config(tmp_path, emulator)
    cfg.write_text(
        cfg.read_text(encoding="utf-8")
        + f"""
[audio]
cache_dir = "{tmp_path / "audio"}"
[player]
kind = "command"
command = ["sh", "-c", "echo play $$ > {events}; exec sleep 60"]
relay = "command"
relay_on_command = ["sh", "-c", "echo on > {events}"]
relay_off_command = ["sh", "-c", "echo off > {events}"]
warmup = 0.0
tail = 0.0
""",
        encoding="utf-8",
    )
    log = tmp_path / "gateway.log"
    try:
        proc, url = await _start_process(cfg, log)
        async with asyncio.timeout(30):
            assert await lines.readline() == b"off\n"  # at start
            async with aiohttp.ClientSession() as http:
                made = await (await http.post(f"{url}/api/v1/announcements", json={"text": "Họp thôn", "repeat": 1},
                                              headers=AUTH)).json()  # fmt: skip
                resp = await http.post(f"{url}/api/v1/announcements/{made['id']}/approve", headers=AUTH)
                assert resp.status == 200, await resp.text()
                assert await lines.readline() == b"on\n"
                word, pid = (await lines.readline()).split()
                assert word == b"play"
                (row,) = (await (await http.get(f"{url}/api/v1/broadcasts", headers=AUTH)).json())["log"]
                assert (row["result"], row["relay"]) == ("playing", "on"), "the relay is logged on before the play"
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        async with asyncio.timeout(10):
            await _exited(int(pid))  # the player died with the gateway

        proc, url = await _start_process(cfg, log)
        try:
            async with asyncio.timeout(30):
                assert await lines.readline() == b"off\n"  # switched off at start, before anything else
            async with aiohttp.ClientSession() as http:
                (row,) = (await (await http.get(f"{url}/api/v1/broadcasts", headers=AUTH)).json())["log"]
            assert (row["result"], row["relay"]) == ("unknown", "on→off (at start)")
        finally:
            proc.send_signal(signal.SIGTERM)
            async with asyncio.timeout(30):
                assert await proc.wait() == 0
    finally:
        os.close(keep)


async def test_a_nearly_full_disk_refuses_new_work_and_keeps_what_comes_in(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    # more free space asked for than any disk has: the disk counts as nearly full from the start
    client = await start_gateway(emulator, database={"min_free_mb": 10**12})
    resp = await client.post("/api/v1/messages", json={"to": ["0912000001"], "text": "Họp"}, headers=AUTH)
    assert resp.status == 503
    assert (await resp.json())["error"].startswith("Ổ đĩa gần đầy: còn")
    assert (await client.get("/api/v1/inbox", headers=AUTH)).status == 200  # reading goes on
    health = await (await client.get("/healthz")).json()
    assert health["status"] == "degraded" and health["store"]["problem"].startswith("Ổ đĩa gần đầy")
    emulator.deliver("+84961234567", "Câu hỏi khi đĩa gần đầy")
    await wait_inbox(client, 1, AUTH)  # a resident's SMS is still taken off the SIM and stored
