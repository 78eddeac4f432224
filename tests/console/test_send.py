"""The send page (/send): counting, confirming, sending to a hamlet; form errors, CSRF, the content policy."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from gateway.testing import EmulatedModem, sql, wait_sent
from tests.console.conftest import ARTIFACTS, DESKTOP, PHONE, login


async def test_log_in_send_to_a_hamlet_and_see_it_arrive(browser: Browser, site: Any, emulator: EmulatedModem) -> None:
    page = await login(browser, site, "canbo")
    await page.wait_for_selector("#modem")
    assert "Đã kết nối" in await page.inner_text("#modem")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    await page.goto("/send")
    await page.check("input[name=hamlets][value='Nà Phìn']")
    text = "Chào {ten}: sáng thứ Hai 7h30 tiêm chủng cho trẻ tại trạm y tế xã, nhớ mang sổ tiêm."
    await page.fill("#text", text)
    assert "2 tin" in await page.inner_text("#count-auto")
    assert "1 tin" in await page.inner_text("#count-gsm7")
    assert "Chao {ten}: sang thu Hai" in await page.inner_text("#preview-gsm7")
    await page.screenshot(path=str(ARTIFACTS / "send.png"), full_page=True)
    await page.click("#send-form button[type=submit]")
    # to many people: what it costs first, and nothing sent until it is confirmed
    confirm = page.locator("#confirm-send")
    assert "Sẽ gửi tới 2 người · 4 tin · 1.400 đ" in await confirm.inner_text()
    assert await page.input_value("#text") == text
    assert await sql_outbox(site) == 0
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"send-confirm-{name}.png"), full_page=True)
    await confirm.locator("button").click()
    await page.wait_for_selector(".flash")
    assert "Đã xếp 2 tin" in await page.inner_text(".flash")
    received = {m.number: m.text for m in await wait_sent(emulator, 2)}
    assert received["+84912000001"].startswith("Chào Lò Thị Mai: sáng thứ Hai")
    assert "+84912000009" not in received
    # the batch can be watched going out, with each message's parts and delivery
    await page.click("#batch-link a")
    await page.wait_for_selector("#messages")
    rows = page.locator("#messages tr[id^=message-]")
    assert await rows.count() == 2
    assert "Lò Thị Mai" in await page.inner_text("#messages")
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"messages-batch-{name}.png"), full_page=True)


async def test_a_form_error_keeps_what_was_typed(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    await page.fill("#text", "Họp thôn tối nay")
    await page.click("#send-form button[type=submit]")
    assert "Hãy chọn thôn" in await page.inner_text("#error-to")
    assert await page.input_value("#text") == "Họp thôn tối nay"


async def test_a_form_without_its_csrf_token_is_refused(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    resp = await page.request.post("/send", form={"hamlets": "Nà Phìn", "text": "Tin giả mạo"})
    assert resp.status == 403
    assert "CSRF" in await resp.text()
    assert await sql_outbox(site) == 0


async def test_the_send_page_counter_runs_under_the_content_security_policy(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto("/send")
    await page.fill("#text", "Họp thôn")
    assert "8 ký tự · 1 tin" in await page.inner_text("#counter")
    assert errors == []


async def sql_outbox(site: Any) -> int:
    class Client:
        app = site.app

    return int((await sql(Client(), "select count(*) from outbox"))[0][0])
