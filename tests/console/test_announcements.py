"""Loudspeaker announcements (/announcements): plans, preview, approval, the week ahead, the log."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from playwright.async_api import Browser

from gateway.core.keys import CLOCK
from gateway.testing import VN
from tests.console.conftest import ARTIFACTS, DESKTOP, PHONE, login


async def test_schedule_an_announcement_play_its_preview_and_approve_it(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/announcements")
    await page.fill("#text", "Thông báo: 7h30 sáng thứ Hai tiêm chủng cho trẻ dưới 5 tuổi tại trạm y tế xã")
    tomorrow = datetime(2026, 12, 8, 7, 30, tzinfo=VN)  # the app's clock says 7 December
    await page.check("input[name=kind][value=once]")
    await page.fill("#at", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1")
    assert await page.inner_text("#announcement-1 .status") == "Bản nháp"
    assert await page.inner_text("#announcement-1 .plan") == "Phát một lần lúc 07:30 thứ Ba 08/12/2026, cả xã"
    async with asyncio.timeout(20):
        playing = await page.evaluate(
            """() => new Promise((ok, fail) => {
                 const a = document.querySelector('#announcement-1 audio');
                 a.addEventListener('playing', () => ok(a.duration), {once: true});
                 a.addEventListener('error', () => fail('cannot play ' + a.src), {once: true});
                 a.play().catch(e => fail(String(e)));
               })"""
        )
    assert playing > 5  # seconds of chime and speech, decoded by the browser
    await page.click("#announcement-1 button:text('Duyệt')")
    await page.wait_for_selector(".flash")
    assert await page.inner_text("#announcement-1 .status") == "Đã lên lịch"
    assert tomorrow.strftime("07:30 %d/%m/%Y") in await page.inner_text("#announcement-1")


async def test_an_announcement_says_what_it_will_do_refuses_what_it_would_ignore_and_can_be_edited(
    browser: Browser, site: Any
) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/announcements")
    text = "Mời bà con đi họp thôn lúc 19 giờ tại nhà văn hoá"
    await page.fill("#text", text)
    await page.check("#announce-form input[name=zones][value='Nà Phìn']")
    # "Một lần" shows only its date and time; a moment already past is refused while drafting
    await page.check("input[name=kind][value=once]")
    assert await page.is_visible("#at") and not await page.is_visible("#monthday")
    assert not await page.is_visible("input[name=days][value=mon]")
    await page.fill("#at", "2026-12-07T06:00")
    await page.click("#announce-form button[type=submit]")
    assert "đã qua" in await page.inner_text("#error-when")
    assert await page.input_value("#text") == text
    assert await page.is_checked("#announce-form input[name=zones][value='Nà Phìn']")
    # every Monday and Thursday at 06:30 ("6h30" as a person types it) from 10 December
    await page.check("input[name=kind][value=weekly]")
    assert not await page.is_visible("#at")
    await page.check("input[name=days][value=mon]")
    await page.check("input[name=days][value=thu]")
    await page.fill("#time", "6h30")
    await page.fill("#starts_on", "2026-12-10")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1")
    plan = "Phát 06:30 mỗi thứ Hai, thứ Năm, từ 10/12/2026, ở thôn Nà Phìn"
    assert await page.inner_text("#announcement-1 .plan") == plan
    # the draft is edited: monthly on the 5th, then back to weekly
    await page.click("#announcement-1 a:text('Sửa')")
    await page.wait_for_selector("#announce-form")
    assert await page.input_value("#text") == text and await page.is_checked("input[name=days][value=thu]")
    await page.check("input[name=kind][value=monthly]")
    await page.fill("#monthday", "5")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1")
    assert (
        await page.inner_text("#announcement-1 .plan") == "Phát 06:30 ngày 5 hằng tháng, từ 10/12/2026, ở thôn Nà Phìn"
    )
    await page.click("#announcement-1 a:text('Sửa')")
    await page.check("input[name=kind][value=weekly]")
    await page.check("input[name=days][value=mon]")
    await page.check("input[name=days][value=thu]")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1")
    assert await page.inner_text("#announcement-1 .plan") == plan
    await page.click("#announcement-1 button:text('Duyệt')")
    await page.wait_for_selector(".flash")
    # the week ahead (the clock says Monday 7 December): Thursday 10 and Monday 14, not before the 10th
    week = await page.inner_text("#week")
    assert "Thứ Năm 10/12" in week and "Thứ Hai 14/12" in week and "07/12" not in week
    assert week.index("10/12") < week.index("14/12")
    # a hamlet without a line of its own: the draft says it will play everywhere, before approval
    await page.fill("#text", "Khau Phạ: mai cắt điện từ 8 giờ")
    await page.check("#announce-form input[name=zones][value='Khau Phạ']")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-2")
    assert "Thôn Khau Phạ không có đường loa riêng: thông báo sẽ phát ở mọi loa" in await page.inner_text(
        "#announcement-2 .plan"
    )
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"announcements-week-{name}.png"), full_page=True)
    # cancelling asks first: "no" keeps it, "yes" cancels it
    page.once("dialog", lambda d: asyncio.ensure_future(d.dismiss()))
    await page.click("#announcement-1 button:text('Huỷ')")
    assert await page.inner_text("#announcement-1 .status") == "Đã lên lịch"
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.click("#announcement-1 button:text('Huỷ')")
    await page.wait_for_selector(".flash")
    assert await page.inner_text("#announcement-1 .status") == "Đã huỷ"


async def test_play_now_plays_at_approval_and_the_log_is_read_by_day(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/announcements")
    await page.fill("#text", "Thông báo khẩn: mất điện toàn xã từ 14 giờ")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1")
    assert await page.inner_text("#announcement-1 .plan") == "Phát ngay khi duyệt, cả xã"
    site.app[CLOCK].set(site.app[CLOCK]() + 600)  # approved ten minutes later: still "now"
    await page.click("#announcement-1 button:text('Duyệt')")
    await page.wait_for_selector(".flash")
    assert "Đã duyệt" in await page.inner_text(".flash")
    await page.goto("/announcements?log_day=2026-12-07#log")
    await page.locator("#broadcast-log tr.play").first.wait_for()
    await page.click("#log-filter a:text('Hôm qua')")
    assert "Không có lần phát nào trong ngày này" in await page.inner_text("#broadcast-log")
