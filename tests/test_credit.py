"""The SIM's credit, asked by USSD on a schedule: the amount read, kept, and the officials told once a day
when it runs low. (The answers below are written in the carriers' usual shapes, not recorded ones.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.core.errors import ConfigError
from gateway.core.keys import STORE
from gateway.sms.credit import amount
from gateway.sms.keys import CREDIT, ROUTER
from gateway.testing import (
    AUTH,
    EmulatedModem,
    FakeClock,
    at,
    log_in,
    make_config,
    routed,
    settled,
    sql,
    to,
    until,
    wait_sent,
)
from gateway.testing.hilink import HiLinkEmulator, start_loa
from gateway.web import accounts
from schedules.keys import SCHEDULER

OFFICIAL = "+84988000999"


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("TK chinh: 25.000d, han den 31/12/2026.", 25000),
        ("TKC 1.234.567 d, HSD: 15/01/2027. Soan KM gui 191", 1234567),
        ("Tai khoan goc cua Quy khach la 8500 dong, KM1 2000 dong.", 8500),
        ("Số dư: 12,000 VND. Hạn sử dụng 2027-01-01", 12000),
        ("Xin loi, he thong dang ban. Vui long thu lai sau.", None),
    ],
)
def test_the_amount_is_read_from_the_carriers_words(answer: str, found: int | None) -> None:
    assert amount(answer) == found


async def test_a_low_credit_is_checked_on_schedule_shown_and_told_once_a_day(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    credit = {"ussd_code": "*101#", "check_hours": 12.0, "warn_below": 30000, "warn_to": [OFFICIAL]}
    client = await start_gateway(emulator, clock=clock, credit=credit)

    async def checked() -> bool:
        return bool(await sql(client, "select 1 from credit_checks where amount is not null"))

    # at start (never asked before); if the modem was still connecting, again half an hour later
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 10, 30))
    await until(client, checked)
    first = (await sql(client, "select max(at) from credit_checks"))[0][0]
    await settled(client)
    health = await (await client.get("/healthz")).json()
    assert health["credit"]["amount"] == 25000 and health["credit"]["low"] is True
    (warning,) = to(emulator, OFFICIAL)
    assert (
        warning.text == "Loa: tài khoản SIM còn 25.000 đ, dưới mức 30.000 đ. Hãy nạp thêm để tin nhắn không bị ngừng."
    )
    await client.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, 0.0)
    assert await log_in(client, "canbo", "matkhau-an-toan-1") == 303
    page = await (await client.get("/")).text()
    assert "Tài khoản SIM sắp hết: còn 25.000 đ" in page
    await client.app[SCHEDULER].advance(first + 12 * 3600)  # 12 hours on: asked again, not told again
    await settled(client)
    assert await sql(client, "select count(*) from credit_checks where amount is not null") == [(2,)]
    assert len(to(emulator, OFFICIAL)) == 1
    emulator.ussd_answer = "He thong ban"
    await client.app[SCHEDULER].advance(first + 24 * 3600)
    await settled(client)
    health = await (await client.get("/healthz")).json()
    assert health["credit"]["amount"] is None and "không đọc được" in health["credit"]["error"]
    emulator.ussd_answer = "TK chinh: 9.000d"
    await client.app[SCHEDULER].advance(first + 24 * 3600 + 1800)  # a day after the first warning: told again
    await settled(client)
    assert [m.text.split(",")[0] for m in to(emulator, OFFICIAL)] == [
        "Loa: tài khoản SIM còn 25.000 đ",
        "Loa: tài khoản SIM còn 9.000 đ",
    ]


async def test_the_dashboard_counts_paid_segments_against_the_monthly_budget(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    client = await start_gateway(emulator, clock=clock, credit={"monthly_segments": 2})
    body = {"to": ["0912000001", "0912000002"], "text": "Hop thon " * 20}  # 180 GSM-7 characters: 2 parts each
    assert (await client.post("/api/v1/messages", json=body, headers=AUTH)).status == 202
    await wait_sent(emulator, 2)
    await settled(client)
    await client.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, 0.0)
    assert await log_in(client, "canbo", "matkhau-an-toan-1") == 303
    page = await (await client.get("/")).text()
    assert "Phần tin đã trả tiền: hôm nay 4, tháng này 4 / 2 theo ngân sách" in page
    assert "Tháng này đã gửi 4 phần tin, quá ngân sách 2." in page


async def test_the_dashboard_says_sending_fails_and_points_at_the_low_credit(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    credit = {"ussd_code": "*101#", "warn_below": 30000}
    client = await start_gateway(emulator, clock=clock, credit=credit, sms={"retry_base": 600.0, "retry_max": 600.0})
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 10, 30))
    emulator.faults.fail_next = [500] * 6  # the network refuses every submit (+CMS ERROR: 500)
    numbers = [f"091200000{i}" for i in range(6)]
    assert (await client.post("/api/v1/messages", json={"to": numbers, "text": "Hop"}, headers=AUTH)).status == 202

    async def refused() -> bool:
        return await sql(client, "select count(*) from outbox where last_error is not null") == [(6,)]

    await until(client, refused)
    await client.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, 0.0)
    assert await log_in(client, "canbo", "matkhau-an-toan-1") == 303
    page = await (await client.get("/")).text()
    assert "Mạng đang từ chối tin nhắn: 6 tin bị lỗi trong một giờ qua" in page
    assert "và tài khoản SIM chỉ còn 25.000 đ: có thể đã hết tiền" in page


async def test_where_ussd_is_silent_the_balance_is_asked_by_sms_and_the_reply_kept_from_the_officials(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    # an LTE dongle without USSD over IMS: ussd/send is taken, ussd/get never answers
    dongle = HiLinkEmulator(ussd_mode="silent")
    await dongle.start()
    try:
        clock = FakeClock(at(2026, 12, 7, 10, 0))
        credit = {"ussd_code": "*101#", "sms_number": "191", "sms_text": "KTTK", "sms_wait": 900.0,
                  "warn_below": 30000, "warn_to": [OFFICIAL]}  # fmt: skip
        client, _ = await start_loa(aiohttp_client, tmp_path, dongle, clock=clock, credit=credit,
                                    modem={"ussd_timeout": 1.0})  # fmt: skip
        # the balance reply is looked at before any other handler (gateway/sms/setup.py)
        assert client.app[ROUTER].handlers[0] == ("balance reply", client.app[CREDIT].balance_reply)

        # the carrier's offer, with nothing asked: an ordinary message (the officials see it)
        dongle.receive("191", "KM: Tang 50% gia tri the nap hom nay.")
        await routed(client, 1)
        assert await sql(client, "select text from questions") == [("KM: Tang 50% gia tri the nap hom nay.",)]

        async def asked() -> bool:  # the check at start: USSD silent, then the query by SMS
            queued = await sql(client, "select count(*) from outbox where recipient='191'")
            return queued == [(1,)] and bool(await sql(client, "select 1 from credit_checks"))

        await until(client, asked)
        await settled(client)
        assert [(s.phone, s.content) for s in dongle.sent] == [("191", "KTTK")]
        error = (await sql(client, "select error from credit_checks"))[0][0]
        assert "USSD" in error and "191" in error

        dongle.receive("191", "TKC 18.500d, HSD 31/12/2026. Soan KM gui 191 de biet khuyen mai.")
        await routed(client, 2)
        await settled(client)
        assert await sql(client, "select count(*) from questions") == [(1,)]  # not the officials' business
        health = await (await client.get("/healthz")).json()
        assert health["credit"]["amount"] == 18500 and health["credit"]["low"] is True
        warnings = [s.content for s in dongle.sent if s.phone == OFFICIAL]
        assert warnings == [
            "Loa: tài khoản SIM còn 18.500 đ, dưới mức 30.000 đ. Hãy nạp thêm để tin nhắn không bị ngừng."
        ]

        # once answered, the next message from 191 is an ordinary one again
        dongle.receive("191", "TKC 18.500d")
        await routed(client, 3)
        assert await sql(client, "select count(*) from questions") == [(2,)]
    finally:
        await dongle.close()


def test_the_balance_by_sms_needs_a_short_code_and_a_text(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"credit\.sms_number"):
        make_config(tmp_path, "emulator", credit={"sms_number": "191"})
    with pytest.raises(ConfigError, match=r"credit\.sms_number"):
        make_config(tmp_path, "emulator", credit={"sms_number": "tong dai", "sms_text": "KTTK"})
    assert make_config(tmp_path, "emulator", credit={"sms_number": "191", "sms_text": "KTTK"}).credit.sms_wait == 900
