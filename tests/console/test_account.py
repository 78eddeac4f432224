"""The account page (/account): anyone changes their own password."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from gateway.core.keys import STORE
from gateway.web import accounts
from tests.console.conftest import ARTIFACTS, DESKTOP, PASSWORD, PHONE, login


async def test_anyone_changes_their_own_password_and_their_other_sessions_end(browser: Browser, site: Any) -> None:
    elsewhere = await login(browser, site, "truongthon")  # the same account on another phone
    await elsewhere.wait_for_selector("#hamlet")
    page = await login(browser, site, "truongthon")
    await page.click("nav a.who")
    await page.wait_for_selector("#password-form")
    await page.fill("#old", "sai-mat-khau")
    await page.fill("#new", "mat-khau-moi-2026")
    await page.fill("#again", "mat-khau-moi-2026")
    await page.click("#password-form button")
    assert await page.inner_text("#error-old") == "Mật khẩu hiện tại không đúng."
    await page.fill("#old", PASSWORD)
    await page.fill("#new", "ngan")
    await page.fill("#again", "ngan")
    await page.click("#password-form button")
    assert "ít nhất 8 ký tự" in await page.inner_text("#error-new")
    await page.fill("#old", PASSWORD)
    await page.fill("#new", "mat-khau-moi-2026")
    await page.fill("#again", "mat-khau-moi-2026")
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"account-{name}.png"), full_page=True)
    await page.click("#password-form button")
    assert "Đã đổi mật khẩu" in await page.inner_text(".flash")
    await page.goto("/")
    await page.wait_for_selector("#hamlet")  # this session goes on
    await elsewhere.goto("/")
    await elsewhere.wait_for_selector("#password")  # the other one is logged out
    again = await login(browser, site, "truongthon", "mat-khau-moi-2026")
    await again.wait_for_selector("#hamlet")
    rows = await site.app[STORE].call(accounts.audit_log)
    assert any(r["action"] == "đổi mật khẩu của mình" and r["user"] == "truongthon" for r in rows)
