"""A modem that vanishes or goes silent, and a gateway killed mid-batch: nothing lost, little repeated."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from gateway.sms.views import TRANSPORT
from gateway.testing import AUTH, TOKEN, EmulatedModem, sql, until, wait_sent

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


async def test_sigkill_mid_batch_then_restart_loses_nothing(emulator: EmulatedModem, tmp_path: Path) -> None:
    emulator.submit_delay = 0.05
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
