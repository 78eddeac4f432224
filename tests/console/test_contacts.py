"""The hamlets and the phone book (/hamlets, /contacts): add, rename, search, edit, delete, import."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Browser, FilePayload

from tests.console.conftest import ARTIFACTS, DESKTOP, PHONE, login


async def test_officials_keep_the_hamlets_and_the_phone_book(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/hamlets")
    assert "2 người" in await page.inner_text("#hamlets tr:has-text('Nà Phìn')")
    await page.fill("#new-hamlet", "Séo Lủng")
    await page.click("#add-hamlet button")
    assert "Đã thêm thôn Séo Lủng" in await page.inner_text(".flash")
    row = page.locator("#hamlets tr", has_text="Séo Lủng")
    await row.locator("input[name=name]").fill("Sẻo Lủng")
    await row.locator("button").click()
    assert "Đã đổi tên thôn thành Sẻo Lủng" in await page.inner_text(".flash")
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"hamlets-{name}.png"), full_page=True)
    # who a hamlet reaches: its link opens the phone book filtered to it
    await page.click("#hamlets a:text('Khau Phạ')")
    await page.wait_for_selector("#contacts")
    assert "Sùng A Páo" in await page.inner_text("#contacts") and "Lò Thị Mai" not in await page.inner_text("#contacts")
    # search by name (without diacritics) or number, then add one, edit, delete
    await page.goto("/contacts?q=thi mai")
    assert await page.locator("#contacts tr[id^=contact-]").count() == 1
    await page.goto("/contacts")
    await page.fill("#new-name", "Hầu A Lềnh")
    await page.fill("#new-number", "0912 345 001")
    await page.select_option("#new-hamlet", "Sẻo Lủng")
    await page.check("#add-contact input[name=roles][value=hamlet_head]")
    await page.click("#add-contact button")
    assert "Đã thêm Hầu A Lềnh (+84912345001)" in await page.inner_text(".flash")
    await page.click("#contacts a:text('Sửa / xoá')")
    await page.select_option("#hamlet", "Khau Phạ")
    await page.click("#contact-form button")
    assert "Khau Phạ" in await page.inner_text("#contacts")
    await page.goto("/hamlets")
    assert "1" in await page.inner_text("#hamlets tr:has-text('Khau Phạ') td[data-label='Trưởng thôn']")
    await page.goto("/contacts?q=0912345001")
    await page.click("#contacts a:text('Sửa / xoá')")
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.click("button:text('Xoá liên hệ này')")
    assert "Đã xoá Hầu A Lềnh" in await page.inner_text(".flash")
    await page.goto("/contacts?q=0912345001")
    assert await page.locator("#contacts tr[id^=contact-]").count() == 0
    # a typo'd hamlet in an import is refused with the hamlet it probably meant
    await page.goto("/contacts")
    csv = "Tên,Số điện thoại,Thôn\nGiàng A Chứ,0912345002,Nà Phìm\n".encode()
    payload: FilePayload = {"name": "danh-ba.csv", "mimeType": "text/csv", "buffer": csv}
    await page.set_input_files("#file", files=[payload])
    await page.click("form[action='/contacts/import'] button")
    assert "Có phải Nà Phìn?" in await page.inner_text("#import-report")
