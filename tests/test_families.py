"""Two modem families: Huawei (+CDSI, packed USSD, ^RSSI chatter) and SIM800 (+CDS, no +CLAC)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.testing import AUTH, EmulatedModem, sql, until, wait_sent


@pytest.fixture
async def sim800(tmp_path: Path) -> Any:
    emu = EmulatedModem("sim800", link_dir=tmp_path, auto_report=True)
    await emu.start()
    yield emu
    await emu.close()


async def test_sim800_reports_arrive_inline_and_mark_delivered(sim800: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(sim800)
    assert "AT+CNMI=2,1,0,1,0" in sim800.commands  # it refused ds=2, we fell back
    assert not any(c.startswith("AT^CURC") for c in sim800.commands)
    text = "Lịch họp HĐND xã: 8h00 thứ Sáu, 19/12. Đề nghị các đại biểu có mặt đúng giờ. " * 2
    resp = await client.post("/api/v1/messages", json={"to": "0351234567", "text": text}, headers=AUTH)
    message_id = (await resp.json())["ids"][0]
    await wait_sent(sim800, 1)

    async def delivered() -> bool:
        rows = await sql(client, "select status from outbox where id=?", message_id)
        return bool(rows[0][0] == "delivered")

    await until(client, delivered)


async def test_sim800_ussd_balance_in_vietnamese(sim800: EmulatedModem, start_gateway: Any) -> None:
    sim800.ussd_answer = "Tài khoản chính: 25.000đ. Hạn dùng 31/12/2026."
    client = await start_gateway(sim800)
    resp = await client.post("/api/v1/ussd", json={"code": "*101#"}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["answer"] == "Tài khoản chính: 25.000đ. Hạn dùng 31/12/2026."


async def test_huawei_ussd_is_packed_and_charset_reset_after_ucs2(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator)
    assert "AT^CURC=0" in emulator.commands
    emulator.cscs = "UCS2"  # as left behind by a tool that sent a Vietnamese SMS in text mode
    resp = await client.post("/api/v1/ussd", json={"code": "*101#"}, headers=AUTH)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["answer"] == "TK chinh: 25.000d, han den 31/12/2026."
    assert any(c.startswith('AT+CUSD=1,"AA182C3602"') for c in emulator.commands)


async def test_ussd_errors_are_clear(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator)
    resp = await client.post("/api/v1/ussd", json={"code": "101"}, headers=AUTH)
    assert resp.status == 400
    resp = await client.post("/api/v1/ussd", json={"code": "*999#"}, headers=AUTH)
    assert resp.status == 503
    assert "ended by the network" in (await resp.json())["error"]


async def test_a_sim_pin_from_config_unlocks_the_modem(tmp_path: Path, start_gateway: Any) -> None:
    emu = EmulatedModem("huawei", link_dir=tmp_path, pin="1234")
    await emu.start()
    try:
        await start_gateway(emu, modem={"pin": "1234"})
        assert 'AT+CPIN="1234"' in emu.commands
    finally:
        await emu.close()
