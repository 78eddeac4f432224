"""Through Jasmin 0.11.0 (its own redis and rabbitmq): Loa → Jasmin → the test SMSC, and back."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.testing import AUTH, EmulatedModem, sql, until
from gateway.testing.jasmin import Jasmin, jasmin_missing
from gateway.testing.smsc import Smsc, smsc_missing

LONG = "Thông báo: sáng thứ Hai 7h30 tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã, nhớ mang sổ tiêm."


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[Smsc, Jasmin]]:
    why = smsc_missing() or jasmin_missing()
    if why:
        pytest.skip(why)
    smsc = await Smsc.start()
    jasmin = Jasmin(tmp_path / "jasmin", smsc.port)
    try:
        await jasmin.start()
        yield smsc, jasmin
    finally:
        await jasmin.close()
        await smsc.close()


async def through_jasmin(start_gateway: Any, emulator: EmulatedModem, jasmin: Jasmin) -> Any:
    smpp = {"enabled": True, "port": jasmin.smpp_port, "system_id": "loa", "password": "loapw",
            "source_addr": "UBND XA", "reconnect_min": 0.2}  # fmt: skip
    return await start_gateway(emulator, modem={"port": "none"}, smpp=smpp)


async def test_long_vietnamese_messages_cross_jasmin_part_by_part_and_their_receipts_come_back(
    emulator: EmulatedModem, start_gateway: Any, stack: tuple[Smsc, Jasmin]
) -> None:
    smsc, jasmin = stack
    client = await through_jasmin(start_gateway, emulator, jasmin)
    to = ["0912000001", "0987000002", "0903000003"]
    resp = await client.post("/api/v1/messages", json={"to": to, "text": LONG}, headers=AUTH)
    assert resp.status == 202

    async def delivered() -> bool:
        rows = await sql(client, "select status from outbox")
        return [r[0] for r in rows] == ["delivered"] * 3

    await until(client, delivered, timeout=60)
    assert sorted(p["to"] for p in smsc.submits) == sorted(["84" + n[1:] for n in to] * 2)
    assert all(p["data_coding"] == 8 for p in smsc.submits)
    for number in to:
        mine = sorted((p for p in smsc.submits if p["to"] == "84" + number[1:]), key=lambda p: p["udh"][0][-2:])
        assert "".join(p["text"] for p in mine) == LONG  # the UDH went through Jasmin untouched
    ids = [r[0] for r in await sql(client, "select remote_id from outbox_parts")]
    # Jasmin's own message ids (UUIDs), not the SMSC's: each receipt was matched through Jasmin
    assert len(ids) == 6 and all(re.fullmatch(r"[0-9a-f-]{36}", i) for i in ids)
    assert not set(ids) & {p["id"] for p in smsc.submits}


async def test_a_residents_question_reaches_loa_through_jasmin_and_is_answered_the_same_way(
    emulator: EmulatedModem, start_gateway: Any, stack: tuple[Smsc, Jasmin]
) -> None:
    smsc, jasmin = stack
    client = await through_jasmin(start_gateway, emulator, jasmin)
    await smsc.order(mo={"from": "84961234567", "to": "8088", "text": "Đăng ký khai sinh cần giấy tờ gì?"})

    async def answered() -> bool:
        return any(p["to"] == "84961234567" for p in smsc.submits)

    await until(client, answered, timeout=60)
    (sender, via) = (await sql(client, "select sender, via from inbox"))[0]
    assert sender == "+84961234567" and via == "smpp"
    reply = "".join(p["text"] for p in smsc.submits if p["to"] == "84961234567")
    assert "khai sinh" in reply.lower()
