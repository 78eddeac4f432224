"""A modem that restarts by itself at any point of any exchange: set up again, marked connected, every
message sent once, every SMS received once (issue #31)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.sms.keys import TRANSPORT
from gateway.testing import AUTH, EmulatedModem, count, until, wait_sent
from gateway.testing.helpers import RESIDENT
from tests.test_faults import _process_config, _start_process

TEXTS = [f"Lịch tiêm chủng tháng 12, phiếu {i}" for i in range(6)]
# the commands of a send (the +CMGS line, then the PDU after its prompt) and of a receive
SEND = ("AT+CMGS", "PDU")
RECEIVE = ("AT+CMGR", "AT+CMGD")


async def _connected(client: Any) -> bool:
    return bool(client.app[TRANSPORT].info.connected)


@pytest.mark.parametrize("where", ["before", "inside", "after"])
@pytest.mark.parametrize("command", [*SEND, *RECEIVE])
@pytest.mark.parametrize("family", ["sim800", "huawei"])
async def test_a_restart_at_any_point_of_an_exchange_ends_set_up_again_with_everything_sent(
    tmp_path: Path, start_gateway: Any, family: str, command: str, where: str
) -> None:
    # sim800 says its boot lines (RDY, +CPIN: READY...); the Huawei stick says nothing: only its echo
    # coming back shows it restarted
    emu = EmulatedModem(family, link_dir=tmp_path, submit_delay=0.01)
    await emu.start()
    try:
        client = await start_gateway(emu)
        emu.faults.reboot_at, emu.faults.reboot_where = command, where
        emu.deliver(RESIDENT, "KS")  # a resident asks: the answer is sent too
        for text in TEXTS:
            resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": text}, headers=AUTH)
            assert resp.status == 202

        async def all_done() -> bool:
            got = Counter(m.text for m in emu.messages() if m.number != RESIDENT)
            return set(got) == set(TEXTS) and any(m.number == RESIDENT for m in emu.messages())

        await until(client, all_done, timeout=30)
        assert emu.reboots == 1, "the restart happened"
        await until(client, lambda: _connected(client))
        health = await (await client.get("/healthz")).json()
        assert health["modem"]["connected"] is True
        sent = Counter(m.text for m in emu.messages() if m.number != RESIDENT)
        assert all(n == 1 for n in sent.values()), f"sent again: {sent}"
        assert len([m for m in emu.messages() if m.number == RESIDENT]) == 1, "the answer went once"
        assert await count(client, "inbox") == 1, "the resident's SMS was kept once"
        assert not emu._storage[emu.mem[0]], "read and deleted from the modem"
        # still working after it: one more message goes out
        resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": "Sau khi khởi động lại"},
                                 headers=AUTH)  # fmt: skip
        assert resp.status == 202
        await wait_sent(emu, len(emu.messages()) + 1)
    finally:
        await emu.close()


async def test_a_stick_silent_3_s_that_comes_back_with_boot_lines_and_echo_on_in_loa_run(
    emulator: EmulatedModem, tmp_path: Path
) -> None:
    """The issue's run, as a real process: boot lines slip into the answer to a signal poll and the
    stick is silent 3 s after it (longer than a command may take) while a resident texts KS; then a batch
    during which it goes silent for 3 s and comes back with its boot lines and echo on."""
    await emulator.close()
    emu = EmulatedModem("sim800", link_dir=tmp_path, submit_delay=0.02)
    await emu.start()
    cfg = _process_config(tmp_path, emu)
    quick = "command_timeout = 2.0\npoll_interval = 1.0\nreconnect_min"
    cfg.write_text(cfg.read_text().replace("reconnect_min", quick))
    log = tmp_path / "gateway.log"
    proc, url = await _start_process(cfg, log)
    try:
        async with aiohttp.ClientSession() as http:

            async def connected() -> bool:
                return bool((await (await http.get(f"{url}/healthz")).json())["modem"]["connected"])

            async def answered() -> bool:
                return any(m.number == RESIDENT for m in emu.messages())

            await _poll(connected, 20)
            emu.faults.reboot_at, emu.faults.reboot_where, emu.faults.reboot_silent = "AT+CSQ", "inside", 3.0

            async def rebooted() -> bool:
                return emu.reboots == 1

            await _poll(rebooted, 20)
            emu.deliver(RESIDENT, "KS")  # while the stick is still silent after its boot lines
            await _poll(answered, 30)
            numbers = [f"+8491{i:07d}" for i in range(40)]
            emu.faults.reboot_at, emu.faults.reboot_where, emu.faults.reboot_silent = "PDU", "before", 3.0
            resp = await http.post(f"{url}/api/v1/messages", json={"to": numbers, "text": "Họp thôn 20h"},
                                   headers=AUTH)  # fmt: skip
            assert resp.status == 202

            async def all_sent() -> bool:
                return len({m.number for m in emu.messages()} - {RESIDENT}) == len(numbers)

            await _poll(all_sent, 60)
            await _poll(connected, 20)
            assert emu.reboots == 2
            sent = Counter(m.number for m in emu.messages())
            assert all(n == 1 for n in sent.values()), "nothing sent twice"
            assert "restarted by itself" in log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await proc.wait() == 0
        await emu.close()


async def _poll(check: Callable[[], Awaitable[bool]], timeout: float) -> None:
    """Ask a real process again and again until `check` holds (nothing to wait on across processes)."""
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)
