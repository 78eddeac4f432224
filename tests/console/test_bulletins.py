"""Disaster warnings (/bulletins) on an official's phone: a bulletin typed from a fax goes out, the page
says what went where, and the one stop button stops it."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Dialog

from audio.player import RecordingPlayer
from broadcasts.keys import ANNOUNCER
from gateway.testing import EmulatedModem, sql, wait_sent
from tests.console.conftest import ARTIFACTS, PHONE, login


async def test_an_official_types_a_fax_bulletin_sees_where_it_went_and_stops_everything(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(PHONE)
    await page.click("nav >> text=Thiên tai")
    await page.wait_for_url("**/bulletins")
    assert await page.is_disabled("#stop-all button")  # nothing to stop yet
    form = "#bulletin-form"
    await page.fill(f"{form} #issuer", "Ban Chỉ huy PCTT tỉnh Hà Giang")
    await page.fill(f"{form} #issued_at", "2026-12-07T09:30")
    await page.select_option(f"{form} #hazard", "lũ quét")
    await page.select_option(f"{form} #level", "4")
    await page.check(f"{form} input[name=hamlets][value='Nà Phìn']")
    await page.fill(f"{form} #headline", "Lũ quét trên suối Nậm Lang")
    await page.fill(f"{form} #text", "Mưa lớn kéo dài, nguy cơ lũ quét trong 6 giờ tới.")
    await page.fill(f"{form} #instruction", "Các hộ ven suối di chuyển lên nhà văn hoá thôn.")
    await page.click(f"{form} button")
    await page.wait_for_selector(".flash")
    assert "Đã phát cảnh báo số 1: 2 tin nhắn" in await page.inner_text(".flash")
    sent = await wait_sent(emulator, 2)
    assert all("Ban tin 09h30 7/12" in s.text for s in sent)
    card = await page.inner_text("#b-1")
    assert "lũ quét – cấp 4" in card and "Nơi nhận: Nà Phìn" in card and "Loa (" in card
    await page.screenshot(path=str(ARTIFACTS / "bulletins-phone.png"), full_page=True)
    player = site.app[ANNOUNCER].station.player
    assert isinstance(player, RecordingPlayer) and len(player.plays) == 1

    async def accept(dialog: Dialog) -> None:
        await dialog.accept()

    page.on("dialog", accept)
    await page.click("#stop-all button")
    await page.wait_for_selector(".flash")
    assert "Đã dừng 1 cảnh báo" in await page.inner_text(".flash")
    assert "Đã dừng" in await page.inner_text("#b-1")

    class Client:
        app = site.app

    assert await sql(Client(), "select status, stopped_by from bulletins") == [("stopped", "canbo")]


async def test_a_hamlet_gets_its_point_and_a_hamlet_head_cannot_type_a_bulletin(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/bulletins")
    row = page.locator("#points tr", has_text="Khau Phạ")
    await row.locator("input[name=lat]").fill("23,3001")  # a comma, as a Vietnamese phone types it
    await row.locator("input[name=lon]").fill("105.4002")
    await row.locator("button").click()
    await page.wait_for_selector(".flash")
    assert "Đã lưu toạ độ thôn" in await page.inner_text(".flash")

    class Client:
        app = site.app

    assert await sql(Client(), "select lat, lon from bulletin_points") == [(23.3001, 105.4002)]
    head = await login(browser, site, "truongthon")
    await head.goto("/bulletins")
    assert await head.locator("#bulletin-form").count() == 0 and await head.locator("#stop-all").count() == 0
