"""Logging in to the console and staying logged in: a locked account, a link from elsewhere, a session that ends."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from gateway.core.keys import STORE
from gateway.web import accounts
from tests.console.conftest import ARTIFACTS, DESKTOP, PASSWORD, PHONE, login


async def test_ten_wrong_passwords_lock_the_account(browser: Browser, site: Any) -> None:
    page = await browser.new_page(base_url=site.url, locale="vi-VN")
    for _ in range(10):
        await page.goto("/login")
        await page.fill("#username", "quantri")
        await page.fill("#password", "sai-mat-khau")
        await page.click("button[type=submit]")
        assert "Sai tên đăng nhập hoặc mật khẩu" in await page.inner_text("#login-error")
    await page.goto("/login")
    await page.fill("#username", "quantri")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    assert "bị khoá" in await page.inner_text("#login-error")
    other = await login(browser, site, "canbo")  # other accounts still work
    await other.wait_for_selector("#modem")
    rows = await site.app[STORE].call(accounts.audit_log)
    # the refusal of the locked account is counted as a blocked attempt (one audit row a minute, #30)
    assert [r["action"] for r in rows[:2]] == ["đăng nhập", "đăng nhập bị chặn"]


async def test_a_link_followed_from_another_site_keeps_the_session(browser: Browser, site: Any) -> None:
    # an official clicks a link to the console in a message on another site: still logged in after
    page = await login(browser, site, "canbo")
    await page.wait_for_selector("#modem")
    elsewhere = "http://tin-nhan.example/"
    link = f'<a id="go" href="{site.url}/send">Gửi tin</a>'
    await page.route(elsewhere, lambda route: route.fulfill(body=link, content_type="text/html"))
    await page.goto(elsewhere)
    await page.click("#go")
    await page.wait_for_load_state()
    assert page.url == f"{site.url}/send"
    await page.goto("/")
    await page.wait_for_selector("#modem")  # the dashboard, not the login page


async def test_a_session_that_ends_while_typing_keeps_the_text_after_logging_in_again(
    browser: Browser, site: Any
) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    text = "Tối nay 19h họp thôn bàn việc làm đường, mời mỗi hộ một người đến nhà văn hoá."
    await page.fill("#text", text)
    await site.app[STORE].call(lambda db: db.execute("delete from sessions"))  # it ran out meanwhile
    await page.click("#send-form button[type=submit]")
    await page.wait_for_selector("#password")
    assert "/login?next=/send" in page.url
    await page.fill("#username", "canbo")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#draft-restored")
    assert page.url.endswith("/send")
    assert await page.input_value("#text") == text
    assert "tin nhắn mỗi người" in await page.inner_text("#counter")  # the counter counted it
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"draft-restored-{name}.png"), full_page=True)
    # once it has gone, it does not come back
    await page.check("input[name=hamlets][value='Khau Phạ']")
    await page.click("#send-form button[type=submit]")
    await page.wait_for_selector(".flash")
    await page.goto("/send")
    assert await page.input_value("#text") == ""
