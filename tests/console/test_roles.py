"""What a hamlet head may not see or do, in the pages and through the API."""

from __future__ import annotations

import time
from typing import Any

from playwright.async_api import Browser

from gateway.core.keys import STORE
from gateway.testing import EmulatedModem, wait_sent
from gateway.web import accounts
from tests.console.conftest import login


async def test_a_hamlet_head_cannot_see_or_send_for_another_hamlet(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    page = await login(browser, site, "truongthon")
    await page.goto("/send")
    hamlets = await page.locator("input[name=hamlets]").evaluate_all("els => els.map(e => e.value)")
    assert hamlets == ["Nà Phìn"]
    csrf = await page.input_value("input[name=csrf] >> nth=0")
    resp = await page.request.post("/send", form={"csrf": csrf, "hamlets": "Khau Phạ", "text": "Tin của thôn khác"})
    assert resp.status == 400
    assert "chỉ được gửi cho thôn Nà Phìn" in await resp.text()
    await page.goto("/contacts")
    assert "Sùng A Páo" not in await page.inner_text("#contacts")
    assert "Lò Thị Mai" in await page.inner_text("#contacts")
    resp = await page.request.get("/questions")
    assert resp.status == 403
    # the API refuses the same thing with the head's own token
    head = await site.app[STORE].call(accounts.user_by_name, "truongthon")
    token = await site.app[STORE].call(accounts.new_token, head.id, "test", time.time())
    auth = {"Authorization": f"Bearer {token}"}
    resp = await page.request.post("/api/v1/messages", data={"to": ["0912000009"], "text": "x"}, headers=auth)
    assert resp.status == 403
    resp = await page.request.post("/api/v1/messages", data={"to": ["0912000001"], "text": "Họp thôn"}, headers=auth)
    assert resp.status == 202
    resp = await page.request.get("/api/v1/inbox", headers=auth)
    assert resp.status == 403
    assert [m.number for m in await wait_sent(emulator, 1)] == ["+84912000001"]


async def test_a_page_a_hamlet_head_may_not_open_says_so_in_vietnamese_with_the_navigation(
    browser: Browser, site: Any
) -> None:
    page = await login(browser, site, "truongthon")
    await page.wait_for_selector("#modem")
    resp = await page.goto("/announcements")
    assert resp is not None and resp.status == 403
    assert await page.inner_text("#forbidden") == "Tài khoản của bạn không xem được trang này."
    assert await page.inner_text("nav") and "Tổng quan" in await page.inner_text("nav")
