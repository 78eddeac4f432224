"""LTE modules (issue #24): registration the way LTE reports it, SMS DONE, missed calls, a slow network,
delivery reports the cheap way, and what still works in Vietnam. The real AT layer against the emulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gateway.core.keys import STORE
from gateway.sms.at import ATModem
from gateway.sms.keys import OUTBOX
from gateway.testing import AUTH, EmulatedModem, log_in, sql, until, wait_sent
from gateway.testing.emulator import FAMILIES
from gateway.web import accounts

LTE = sorted(name for name, f in FAMILIES.items() if f.lte)
FAST = {"command_timeout": 2.0, "ussd_timeout": 1.0, "sweep_interval": 300.0}
VIETNAMESE = "Thông báo: 7h30 thứ Hai tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã, mang sổ tiêm và thẻ BHYT."


async def health(client: Any) -> dict[str, Any]:
    return dict(await (await client.get("/healthz")).json())


def modem_of(client: Any) -> ATModem:
    transport = client.app[OUTBOX].channels[0].transport
    assert isinstance(transport, ATModem)
    return transport


@pytest.fixture
async def lte(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    emu = EmulatedModem(getattr(request, "param", "ec25"), link_dir=tmp_path, auto_report=True)
    await emu.start()
    yield emu
    await emu.close()


@pytest.mark.parametrize("lte", LTE, indirect=True)
async def test_an_lte_module_not_on_cs_but_on_eps_sends(lte: EmulatedModem, start_gateway: Any) -> None:
    assert lte.creg == 0 and lte.cereg == 1  # +CREG: 0,0 and +CEREG: 0,1, as LTE-only networks answer
    client = await start_gateway(lte, modem=FAST)
    numbers = [f"09123456{i:02d}" for i in range(12)]
    resp = await client.post("/api/v1/messages", json={"to": numbers, "text": "Họp thôn 19h"}, headers=AUTH)
    assert resp.status == 202
    sent = await wait_sent(lte, 12)
    assert len(sent) == 12, "0 of 12 before: the outbox waited for +CREG for ever"
    body = (await health(client))["modem"]
    assert body["domains"]["cs"] == "not registered" and body["domains"]["eps"] == "home"
    assert body["registration"] == "home" and body["access"] == "E-UTRAN"
    assert body["generation"] == "4g" and body["coverage"] is None
    assert any(c.startswith("AT+CEREG=1") for c in lte.commands), "its URCs are turned on"
    if FAMILIES[lte.family.name].csq.startswith("+CSQ: 99"):
        assert body["signal"] is None and body["rsrp_dbm"] is not None  # ^HCSQ where +CSQ says 99


async def test_sending_waits_only_while_lte_too_is_lost(lte: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(lte, modem=FAST)
    lte.cereg = 2
    lte.urc("+CEREG: 2")

    async def searching() -> bool:
        return bool((await health(client))["modem"]["registration"] == "searching")

    await until(client, searching)
    assert (await health(client))["status"] == "degraded"
    resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": "Họp thôn"}, headers=AUTH)
    assert resp.status == 202
    assert lte.sent == []
    lte.cereg = 1
    lte.urc('+CEREG: 1,"1A2B","01A2D001",7')
    (sent,) = await wait_sent(lte, 1)
    assert sent.text == "Họp thôn"
    assert await sql(client, "select tries from outbox") == [(0,)]


@pytest.mark.parametrize("family", ["ec25", "sim7600"])
async def test_sms_not_ready_after_power_up_waits_for_sms_done_without_a_try(
    family: str, tmp_path: Path, start_gateway: Any
) -> None:
    emu = EmulatedModem(family, link_dir=tmp_path, sms_ready=False)
    await emu.start()
    loop = asyncio.get_running_loop()

    def ready_after_a_refusal(line: str) -> None:
        # the module finishes its SMS start-up just after Loa was refused once
        if line == "AT+CPMS?" and not emu.sms_ready:
            loop.call_soon(emu.sms_done)

    emu.on_command = ready_after_a_refusal
    try:
        client = await start_gateway(emu, modem=FAST)
        assert emu.commands.count("AT+CPMS?") >= 2, "refused once (+CMS ERROR 302/500), asked again after SMS DONE"
        # later the module restarts its SMS stack under us: the part is refused, waits, goes, no try spent
        emu.sms_ready = False
        resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": VIETNAMESE}, headers=AUTH)
        assert resp.status == 202
        (sent,) = await wait_sent(emu, 1)
        assert sent.text == VIETNAMESE
        assert await sql(client, "select tries from outbox") == [(0,)]
    finally:
        await emu.close()


@pytest.mark.parametrize("lte", [n for n in LTE if FAMILIES[n].voice], indirect=True)
async def test_a_missed_call_is_hung_up_and_its_number_handed_over(lte: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(lte, modem=FAST)
    assert "AT+CLIP=1" in lte.commands
    rang: list[str] = []
    heard = asyncio.Event()

    async def on_call(number: str) -> None:
        rang.append(number)
        heard.set()

    modem_of(client).on_call = on_call
    lte.ring("+84912000111")
    async with asyncio.timeout(10):
        await heard.wait()
    assert rang == ["+84912000111"] and lte.hung_up >= 1
    assert any(c in ("AT+CHUP", "ATH") for c in lte.commands)


async def test_a_call_in_the_middle_of_a_submit_loses_neither(lte: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(lte, modem=FAST)
    rang: list[str] = []
    modem = modem_of(client)

    async def on_call(number: str) -> None:
        rang.append(number)

    modem.on_call = on_call
    # RING, +CLIP and the caller's NO CARRIER come between the > prompt and the +CMGS answer
    lte.ring("0912000222", mid_cmgs=True)
    resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": VIETNAMESE}, headers=AUTH)
    (message_id,) = (await resp.json())["ids"]
    (sent,) = await wait_sent(lte, 1)
    assert sent.text == VIETNAMESE and len(sent.references) == 2

    async def done() -> bool:
        return bool(rang) and (await sql(client, "select status from outbox where id=?", message_id))[0][0] in (
            "sent",
            "delivered",
        )

    await until(client, done)
    assert rang == ["0912000222"] and lte.hung_up == 1
    assert len(lte.cmgs_written) == 2, "no part written twice: NO CARRIER was not taken as the submit's answer"
    assert modem.info.connected
    assert await sql(client, "select tries from outbox") == [(0,)]


async def test_a_slow_network_is_waited_for_and_nothing_is_sent_twice(lte: EmulatedModem, start_gateway: Any) -> None:
    lte.auto_report = False
    lte.submit_delay = 0.01
    # send_timeout stands for the documented 120 s; command_timeout floors "slow" at 1 s here
    client = await start_gateway(lte, modem={**FAST, "command_timeout": 1.0, "send_timeout": 30.0})
    numbers = [f"09123400{i:02d}" for i in range(6)]
    for n in numbers[:3]:
        await client.post("/api/v1/messages", json={"to": n, "text": "Tin nhanh"}, headers=AUTH)
    await wait_sent(lte, 3)
    lte.submit_delay = 2.5  # a congested cell on a storm day: far slower than the module's usual
    for n in numbers[3:]:
        await client.post("/api/v1/messages", json={"to": n, "text": "Tin chậm"}, headers=AUTH)

    async def slow() -> bool:
        return bool((await health(client))["modem"]["slow_network"])

    await until(client, slow)
    received = await wait_sent(lte, 6, timeout=60)
    assert Counter(m.number for m in received) == Counter({"+84" + n[1:]: 1 for n in numbers})
    assert len(lte.cmgs_written) == 6, "each part written once"
    assert lte.commands.count("ATE0") == 1, "the modem was never called lost and reopened"


async def test_a_part_written_without_an_answer_goes_again_once_at_most(lte: EmulatedModem, start_gateway: Any) -> None:
    lte.faults.hang_numbers.add("+84987000222")
    client = await start_gateway(lte, modem={**FAST, "send_timeout": 0.5, "reconnect_min": 0.05}, sms={"max_tries": 3})
    resp = await client.post("/api/v1/messages", json={"to": "0987000222", "text": "Tin làm treo"}, headers=AUTH)
    poison = (await resp.json())["ids"][0]

    async def failed() -> bool:
        rows = await sql(client, "select status from outbox where id=?", poison)
        return bool(rows[0][0] == "failed")

    await until(client, failed, timeout=60)
    assert Counter(lte.cmgs_written).most_common(1)[0][1] == 2, "written, then once more after AT was answered"
    body = await (await client.get(f"/api/v1/messages/{poison}", headers=AUTH)).json()
    assert "not sent a third time" in body["last_error"]


async def test_reports_routed_and_acknowledged_cost_one_command_each(lte: EmulatedModem, start_gateway: Any) -> None:
    both_acked = asyncio.Event()
    lte.on_command = lambda line: both_acked.set() if lte.commands.count("AT+CNMA") == 2 else None
    client = await start_gateway(lte, modem=FAST)
    assert "AT+CSMS=1" in lte.commands and "AT+CNMI=2,1,0,1,0" in lte.commands
    resp = await client.post("/api/v1/messages", json={"to": "0912345678", "text": VIETNAMESE}, headers=AUTH)
    (message_id,) = (await resp.json())["ids"]
    await wait_sent(lte, 1)

    async def delivered() -> bool:
        rows = await sql(client, "select status from outbox where id=?", message_id)
        return bool(rows[0][0] == "delivered")

    await until(client, delivered)
    async with asyncio.timeout(10):
        await both_acked.wait()  # each report persisted, then acknowledged
    assert lte.commands.count("AT+CNMA") == 2
    assert not any(c.startswith("AT+CMGR") or c == 'AT+CPMS="SR"' for c in lte.commands)


@pytest.mark.parametrize(
    ("family", "generation", "words"),
    [("sim800", "2g", "15/9/2026"), ("huawei", "3g", "2028"), ("sim7600", "4g", None)],
)
async def test_what_still_works_in_vietnam_is_said_plainly(
    family: str, generation: str, words: str | None, tmp_path: Path, start_gateway: Any
) -> None:
    emu = EmulatedModem(family, link_dir=tmp_path)
    await emu.start()
    try:
        client = await start_gateway(emu, modem=FAST)
        body = (await health(client))["modem"]
        assert body["generation"] == generation
        assert (body["coverage"] is None) if words is None else (words in body["coverage"])
    finally:
        await emu.close()


def test_loa_modems_suggests_the_at_port_not_the_first_one() -> None:
    from gateway.sms.at import at_port, pick

    ec25: dict[str, str | None] = {"manufacturer": "Quectel", "model": "EC25", "sim": "READY"}
    # ttyUSB2 (interface 2) is the AT port; ttyUSB3, the PPP modem port, answers AT too
    found = [("/dev/ttyUSB2", ec25), ("/dev/ttyUSB3", ec25)]
    assert pick(list(reversed(found)), {"/dev/ttyUSB2": 2, "/dev/ttyUSB3": 3}) == "/dev/ttyUSB2"
    e3372: dict[str, str | None] = {"manufacturer": "huawei", "model": "E3372", "sim": "READY"}
    assert pick([("/dev/ttyUSB2", e3372), ("/dev/ttyUSB0", e3372)], {"/dev/ttyUSB0": 0, "/dev/ttyUSB2": 2}) == (
        "/dev/ttyUSB0"
    )
    assert at_port("SIMCOM INCORPORATED", "SIMCOM_SIM7600E-H") == (2, "ttyUSB2")
    assert at_port("huawei", "E3531") is None
    assert pick([("/dev/ttyUSB1", {"manufacturer": "huawei", "model": "E3531"})], {}) == "/dev/ttyUSB1"


async def test_loa_modems_names_an_lte_module_and_a_dead_2g_one(tmp_path: Path) -> None:
    import sys

    lte, old = EmulatedModem("ec25", link_dir=tmp_path), EmulatedModem("sim800", link_dir=tmp_path)
    await lte.start()
    await old.start()
    try:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "modems", old.path, lte.path,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(60):
            out, err = await proc.communicate()
        text = out.decode()
        assert proc.returncode == 0, err.decode()
        assert "Quectel EC25, SIM READY, 4G" in text and "SIMCOM_SIM800L, SIM READY, 2G" in text
        assert "15/9/2026" in text and "ttyUSB2" in text
    finally:
        await lte.close()
        await old.close()


async def test_routing_the_modem_turned_off_is_turned_on_again(lte: EmulatedModem, start_gateway: Any) -> None:
    polled = asyncio.Event()
    lte.on_command = lambda line: polled.set() if line == "AT+CNMI?" else None
    client = await start_gateway(lte, modem={**FAST, "poll_interval": 0.2})
    assert lte.cnmi == "2,1,0,1,0"
    async with asyncio.timeout(10):
        await polled.wait()  # set up, swept once, polled: what arrives now is left to notifications
    # a report left unacknowledged (Loa was busy or down): the module turns routing off, +CMTI too
    lte.cnmi = "0,0,0,0,0"
    lte.deliver("+84961234567", "Tin đến khi báo tin bị tắt")

    async def read() -> bool:
        return bool(await sql(client, "select count(*) from inbox") == [(1,)])

    await until(client, read)
    assert lte.cnmi == "2,1,0,1,0", "notifications on again, and what arrived meanwhile read at once"


def test_the_demo_modem_is_an_lte_module_and_every_family_can_be_configured() -> None:
    from gateway.config import FAMILY_NAMES
    from gateway.sms.config import ModemConfig

    assert FAMILIES[ModemConfig().emulator_family].lte
    assert set(FAMILY_NAMES) == set(FAMILIES)


async def test_the_dashboard_says_lte_the_domains_a_dead_2g_modem_and_a_slow_network(
    lte: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(lte, modem=FAST)
    await client.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, 0.0)
    assert await log_in(client, "canbo", "matkhau-an-toan-1") == 303
    page = await (await client.get("/")).text()
    assert "Mạng: Viettel 4G" in page and "Đăng ký: thoại không" in page and "LTE có" in page
    assert "Mạng chậm" not in page and "2G" not in page
    modem = modem_of(client)
    modem.info.slow_network = True
    modem.info.coverage = "Modem chỉ có 2G: mạng 2G ở Việt Nam đã tắt từ 15/9/2026"
    page = await (await client.get("/")).text()
    assert "Mạng chậm" in page and "đã tắt từ 15/9/2026" in page
