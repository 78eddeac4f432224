"""Real modems: one scenario against every family (the recorded real modems included), memories,
misaligned and stray lines, SIM and network states, `loa modems`."""

from __future__ import annotations

import asyncio
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gateway.sms.at import stored_pdu
from gateway.testing import AUTH, EmulatedModem, count, deliver_pdus, sql, until, wait_inbox, wait_sent
from gateway.testing.emulator import FAMILIES

VIETNAMESE = "Thông báo: 7h30 thứ Hai tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã, mang sổ tiêm và thẻ BHYT."
FAST = {"command_timeout": 2.0, "ussd_timeout": 1.0, "sweep_interval": 300.0}


async def health(client: Any) -> dict[str, Any]:
    return dict(await (await client.get("/healthz")).json())


@pytest.mark.parametrize("family", sorted(FAMILIES))
async def test_the_scenario_on_every_family(family: str, tmp_path: Path, start_gateway: Any) -> None:
    emu = EmulatedModem(family, link_dir=tmp_path, auto_report=True)
    await emu.start()
    try:
        client = await start_gateway(emu, modem=FAST)
        fam = FAMILIES[family]
        # a Vietnamese SMS in two parts, and its delivery reports matched to it
        resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": VIETNAMESE}, headers=AUTH)
        assert resp.status == 202
        (message_id,) = (await resp.json())["ids"]
        (sent,) = await wait_sent(emu, 1)
        assert sent.text == VIETNAMESE and len(sent.references) == 2

        async def delivered() -> bool:
            rows = await sql(client, "select status from outbox where id=?", message_id)
            return bool(rows[0][0] == "delivered")

        body = await health(client)
        if fam.can_receive:
            await until(client, delivered)
            emu.deliver("+84961234567", "Cho hỏi lịch tiêm chủng")
            (got,) = await wait_inbox(client, 1, AUTH)
            assert got["text"] == "Cho hỏi lịch tiêm chủng"
            assert body["modem"]["cannot"] == []
        else:
            # a phone that cannot hand over received SMS says so in plain words
            assert any("AT+CNMI" in c for c in body["modem"]["cannot"]), body["modem"]
        assert body["modem"]["connected"] and body["modem"]["sim"] == "READY"
        assert body["modem"]["manufacturer"].strip() == fam.manufacturer.strip()
        resp = await client.post("/api/v1/ussd", json={"code": "*101#"}, headers=AUTH)
        if fam.answers_ussd:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["answer"] == emu.ussd_answer
        else:
            assert resp.status == 503 and "may not do USSD" in (await resp.json())["error"]
        assert (await health(client))["modem"]["connected"], "nothing hangs"
    finally:
        await emu.close()


async def test_an_sms_in_phone_memory_and_one_left_from_before_both_reach_the_inbox(
    tmp_path: Path, start_gateway: Any
) -> None:
    emu = EmulatedModem("k3715", link_dir=tmp_path)  # used elsewhere before: it stores in ME
    await emu.start()
    try:
        emu.preload("ME", deliver_pdus("+84961234567", "Tin cũ từ hôm qua", reference=3))  # before the start
        client = await start_gateway(emu, modem=FAST)
        emu.deliver_pdu(deliver_pdus("+84961234568", "Tin mới")[0], memory="ME")
        messages = await wait_inbox(client, 2, AUTH)
        assert {m["text"] for m in messages} == {"Tin cũ từ hôm qua", "Tin mới"}

        async def emptied() -> bool:
            return emu.stored == 0

        await until(client, emptied)
        selects = [c for c in emu.commands if c.startswith("AT+CPMS=") and c != "AT+CPMS=?"]
        first_me = selects.index('AT+CPMS="ME"')
        assert selects[first_me + 1] == 'AT+CPMS="SM"', "the usual memory is selected again afterwards"

        async def memories_shown() -> bool:
            return bool((await health(client))["modem"]["memories"].get("ME") == "0/100")

        await until(client, memories_shown)
    finally:
        await emu.close()


async def test_a_full_memory_is_read_and_emptied_at_once(tmp_path: Path, start_gateway: Any) -> None:
    emu = EmulatedModem("huawei", link_dir=tmp_path)
    await emu.start()
    try:
        # 30 SMS arrived while the gateway was away: SM is full and the network holds two back
        for i in range(32):
            emu.deliver("+84961234567", f"Tin số {i}")
        assert emu.stored == 32 and len(emu._undelivered) == 2
        client = await start_gateway(emu, modem=FAST)
        messages = await wait_inbox(client, 32, AUTH)
        assert sorted(m["text"] for m in messages) == sorted(f"Tin số {i}" for i in range(32))

        async def emptied() -> bool:
            return emu.stored == 0

        await until(client, emptied)
        # full again while running: the vendor's URC makes the gateway sweep at once
        emu.faults.silent = False
        emu._capacity["SM"] = 1
        emu.deliver_pdu(deliver_pdus("+84961234567", "một")[0], memory="SM")
        await wait_inbox(client, 33, AUTH)
    finally:
        await emu.close()


@pytest.mark.parametrize("stray", ["RDY", "+CFUN: 1", "+CPIN: READY", "+CREG: 1", "UNDER-VOLTAGE WARNNING"])
def test_a_stray_line_inside_a_cmgr_answer_is_not_the_pdu(stray: str) -> None:
    (pdu,) = deliver_pdus("+84961234567", "Xin chào")
    header = f"+CMGR: 0,,{(len(pdu) - 2 - 2 * int(pdu[:2], 16)) // 2}"
    assert stored_pdu([header, pdu, stray]) == pdu
    assert stored_pdu([header, stray, pdu]) == pdu
    assert stored_pdu([header, stray]) is None


JUNK = ["RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready", "^BOOT: 1,0,0,0,72", "+PBREADY", "ERROR", "OK"]


async def test_boot_lines_and_stray_answers_at_random_moments_lose_and_repeat_nothing(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    rng = random.Random(7)
    emulator.submit_delay = 0.005
    client = await start_gateway(emulator, modem=FAST)
    numbers = [f"+8491{i:07d}" for i in range(200)]
    for start in range(0, 200, 100):
        body = {"to": numbers[start : start + 100], "text": "Lịch tiêm chủng ở trạm y tế xã"}
        assert (await client.post("/api/v1/messages", json=body, headers=AUTH)).status == 202
    inbound = []
    for i in range(40):
        await wait_sent(emulator, rng.randint(i * 5, i * 5 + 4))
        emulator.urc(rng.choice(JUNK))
        if i % 2:
            inbound.append(f"Câu hỏi {i}")
            emulator.deliver("+84961234567", inbound[-1])

    def batch() -> Counter[str]:
        return Counter(m.number for m in emulator.messages() if m.number != "+84961234567")

    async def all_done() -> bool:
        return len(batch()) == 200 and await count(client, "inbox") >= len(inbound) and emulator.stored == 0

    await until(client, all_done, timeout=60)
    out = batch()
    assert set(out) == set(numbers) and max(out.values()) == 1, "nothing lost, nothing sent twice"
    got = Counter(r[0] for r in await sql(client, "select text from inbox"))
    assert set(got) == set(inbound) and max(got.values()) == 1


async def test_a_modem_that_answers_error_to_the_esc_line_connects(tmp_path: Path, start_gateway: Any) -> None:
    emu = EmulatedModem("sim800", link_dir=tmp_path)  # answers ERROR to a lone ESC or an empty line
    await emu.start()
    try:
        client = await start_gateway(emu, modem=FAST)
        body = await health(client)
        assert body["modem"]["sim"] == "READY" and body["modem"]["manufacturer"] == "SIMCOM_Ltd"
    finally:
        await emu.close()


async def test_a_puk_locked_sim_is_a_clear_error_not_retried_every_few_seconds(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    from gateway.app import create_app
    from gateway.testing import make_config

    emu = EmulatedModem("huawei", link_dir=tmp_path, pin="1234")
    await emu.start()
    try:
        emu.pin_puk = True
        config = make_config(tmp_path, emu.path, modem={"reconnect_max": 30.0, "reconnect_min": 0.05})
        client = await aiohttp_client(create_app(config))

        async def refused() -> bool:
            return (await health(client))["modem"]["sim"] is not None

        await until(client, refused)
        body = await health(client)
        assert "PUK" in body["modem"]["sim"] and not body["modem"]["connected"]
        again = asyncio.Event()
        emu.on_command = lambda line: again.set() if line == "AT+CPIN?" else None
        # with reconnect_min at 0.05 s a transient error would be tried again ten times in this window
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await again.wait()
    finally:
        await emu.close()


async def test_sending_waits_while_the_modem_is_not_on_a_network(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, modem=FAST)
    emulator.creg = 2
    emulator.urc("+CREG: 2")

    async def searching() -> bool:
        return bool((await health(client))["modem"]["registration"] == "searching")

    await until(client, searching)
    assert (await health(client))["status"] == "degraded"
    resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": "Họp thôn"}, headers=AUTH)
    assert resp.status == 202
    assert emulator.sent == []
    emulator.creg = 1
    emulator.urc("+CREG: 1")
    (sent,) = await wait_sent(emulator, 1)
    assert sent.text == "Họp thôn"
    rows = await sql(client, "select tries from outbox")
    assert rows == [(0,)], "no try was burnt while searching"


async def test_loa_modems_probes_the_ports_and_prints_the_config_line(tmp_path: Path) -> None:
    emu = EmulatedModem("e1752", link_dir=tmp_path)
    await emu.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "modems", emu.path, str(tmp_path / "nothing-here"),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(30):
            out, err = await proc.communicate()
        text = out.decode()
        assert proc.returncode == 0, err.decode()
        assert "huawei E1752" in text
        assert f'port = "{emu.path}"' in text
        assert "nothing-here" in text and "không mở được" in text
    finally:
        await emu.close()


async def test_a_stick_that_stays_gone_is_power_cycled_and_the_maintainer_told_once_back(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path
) -> None:
    marker = tmp_path / "power-cycled"
    client = await start_gateway(
        emulator,
        # written whole, then renamed: the test sees the file only once the command has run
        modem={"power_cycle": ["sh", "-c", f"echo cycled > {marker}.part && mv {marker}.part {marker}"],
               "power_cycle_after": 3,
               "tell_when_back": ["0988000777"]},
    )  # fmt: skip
    await emulator.vanish()

    async def cycled() -> bool:
        return marker.exists()

    await until(client, cycled)  # after three failed connects in a row, the USB power command ran
    assert marker.read_text() == "cycled\n"
    await emulator.come_back()
    (told,) = await wait_sent(emulator, 1)
    assert told.number == "+84988000777"
    assert told.text.startswith("Loa: modem đã hoạt động lại sau khi tắt/bật nguồn USB")
