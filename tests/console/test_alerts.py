"""Alerts (/alerts): sent by an official, confirmed by a hamlet head on the page, closed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from playwright.async_api import Browser

from gateway.core.keys import NOTIFIER, STORE
from gateway.testing import EmulatedModem, sql, wait_sent
from tests.console.conftest import ARTIFACTS, DESKTOP, PHONE, login, routed_in


async def test_an_official_sends_an_alert_and_watches_its_board(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    from broadcasts.people import add_contact

    await site.app[STORE].call(
        add_contact, {"name": "Vàng A Sử", "number": "0912100001", "hamlet": "Nà Phìn", "roles": ["hamlet_head"]},
        time.time(),
    )  # fmt: skip
    page = await login(browser, site, "canbo")
    await page.goto("/alerts")
    await page.fill("#alert-text", "Lũ quét ở suối, sơ tán ngay")
    await page.click("#alert-form button")
    assert "Hãy chọn ít nhất một thôn" in await page.inner_text("#alert-form")
    assert await page.input_value("#alert-text") == "Lũ quét ở suối, sơ tán ngay"
    await page.check("#alert-form input[name=hamlets][value='Nà Phìn']")
    await page.click("#alert-form button")
    await page.wait_for_selector(".flash")
    assert "tới 1 người" in await page.inner_text(".flash")
    (sent,) = await wait_sent(emulator, 1)
    assert sent.number == "+84912100001" and sent.text.startswith("Lũ quét ở suối")
    emulator.deliver("+84912100001", "OK")
    await routed_in(site, emulator)
    await page.goto("/alerts")
    assert "xác nhận 1" in await page.inner_text(".card >> nth=1")


async def test_a_hamlet_heads_missed_call_confirms_the_alert_on_the_board(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    """Gọi nháy end to end: the alert sent from the console, the head rings the commune's modem (hung up,
    free), the board says confirmed, and the head is texted that it was received."""
    from broadcasts.people import add_contact

    await site.app[STORE].call(
        add_contact, {"name": "Vàng A Sử", "number": "0912100001", "hamlet": "Nà Phìn", "roles": ["hamlet_head"]},
        time.time(),
    )  # fmt: skip
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(PHONE)
    await page.goto("/alerts")
    await page.fill("#alert-text", "Sạt lở taluy đường lên bản, cấm xe qua")
    await page.check("#alert-form input[name=hamlets][value='Nà Phìn']")
    await page.click("#alert-form button")
    await page.wait_for_selector(".flash")
    await wait_sent(emulator, 1)
    emulator.ring("0912100001")

    async def confirmed() -> bool:
        rows = await sql(site, "select count(*) from alert_recipients where confirmed_at is not null")
        return bool(rows[0][0] == 1)

    async with asyncio.timeout(20):
        await site.app[NOTIFIER].wait_until(confirmed)
    (_, back) = await wait_sent(emulator, 2)
    assert back.number == "+84912100001" and "qua cuộc gọi nháy" in back.text
    await page.goto("/alerts")
    assert "xác nhận 1" in await page.inner_text(".card >> nth=1")
    await page.screenshot(path=str(ARTIFACTS / "alerts-confirmed-by-missed-call-phone.png"), full_page=True)


async def test_a_hamlet_head_sees_their_hamlet_and_confirms_an_alert_on_the_page(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    from broadcasts.people import add_contact

    await site.app[STORE].call(
        add_contact, {"name": "Vàng A Sử", "number": "0912100001", "hamlet": "Nà Phìn", "roles": ["hamlet_head"]},
        time.time(),
    )  # fmt: skip
    await site.app[STORE].call(
        add_contact, {"name": "Sùng A Dình", "number": "0912100009", "hamlet": "Khau Phạ", "roles": ["hamlet_head"]},
        time.time(),
    )  # fmt: skip
    admin = await login(browser, site, "quantri")
    await admin.goto("/users")
    row = admin.locator("#users tr", has_text="truongthon")
    await row.locator("input[name=number]").fill("0912 100 001")
    await row.locator("button:text('Lưu số')").click()
    assert "Đã lưu số điện thoại của truongthon" in await admin.inner_text(".flash")
    assert "+84912100001" in await admin.inner_text("#users")
    official = await login(browser, site, "canbo")
    await official.goto("/alerts")
    await official.fill("#alert-text", "Mưa lớn, nước suối dâng: các hộ ven suối chuẩn bị sơ tán")
    await official.check("#alert-form input[name=hamlets][value='Nà Phìn']")
    await official.check("#alert-form input[name=hamlets][value='Khau Phạ']")
    await official.click("#alert-form button")
    await official.wait_for_selector(".flash")
    await wait_sent(emulator, 2)

    head = await login(browser, site, "truongthon")
    await head.wait_for_selector("#hamlet")
    dashboard = await head.inner_text("main")
    assert "Thôn Nà Phìn" in dashboard and "1 cảnh báo người trong thôn chưa xác nhận" in dashboard.replace("\n", " ")
    # nothing of the commune's: no outbox totals, no failures with other people's numbers, no SIM credit
    assert await head.locator("#outbox").count() == 0 and "SIM" not in dashboard
    await head.goto("/send")
    assert await head.is_checked("input[name=hamlets][value='Nà Phìn']")
    await head.goto("/alerts")
    assert await head.locator("#alert-form").count() == 0
    board = head.locator("#alert-1")
    assert "Vàng A Sử" in await board.inner_text() and "Sùng A Dình" not in await board.inner_text()
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await head.set_viewport_size(size)
        await head.screenshot(path=str(ARTIFACTS / f"head-alert-{name}.png"), full_page=True)
    await board.locator("button:text('Đã nhận')").click()
    await head.wait_for_selector(".flash")
    assert "Đã xác nhận cảnh báo 1" in await head.inner_text(".flash")
    assert "Bạn đã xác nhận lúc" in await head.inner_text("#alert-1")
    rows = await sql(type("C", (), {"app": site.app}), "select number, confirmed_at is not null from alert_recipients")
    assert sorted(rows) == [("+84912100001", 1), ("+84912100009", 0)]
    # the official's page shows it without a reload (it fetches the boards every 15 s)
    await official.locator("#alert-1", has_text="xác nhận 1 ·").wait_for(timeout=20000)
    # closing an alert asks first, then stops the re-sends
    official.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await official.click("#alert-1 button:text('Đóng cảnh báo')")
    await official.wait_for_selector(".flash")
    assert "Đã đóng cảnh báo 1" in await official.inner_text(".flash")
    assert await official.inner_text("#alert-1 .status") == "Đã đóng"
