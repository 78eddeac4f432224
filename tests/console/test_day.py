"""A day's work on the send page: subscribers reached by default, nothing queued is not a success, feedback
where the eye is, reminders at a time / weekly / monthly with their list, stop and edit."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser, Dialog, FilePayload, Page

from gateway.core.keys import CLOCK
from gateway.testing import EmulatedModem, at, sql, wait_sent
from tests.console.conftest import ARTIFACTS, DESKTOP, PHONE, login, routed_in


async def shots(page: Page, name: str) -> None:
    """The page at both sizes, as a phone and a desktop show it."""
    ARTIFACTS.mkdir(exist_ok=True)
    for size_name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(ARTIFACTS / f"{name}-{size_name}.png"), full_page=True)


async def in_view(page: Page, selector: str) -> bool:
    """The element is on screen and has the focus (or holds it): where the eye is after a submit."""
    return bool(
        await page.evaluate(
            """(sel) => { const el = document.querySelector(sel); const r = el.getBoundingClientRect();
            return r.bottom > 0 && r.top < innerHeight && el.contains(document.activeElement); }""",
            selector,
        )
    )


async def test_subscribers_are_reached_by_default(browser: Browser, site: Any, emulator: EmulatedModem) -> None:
    emulator.deliver("+84987000111", "DK Nà Phìn")
    await routed_in(site, emulator)
    await wait_sent(emulator, 1)  # the subscription's own reply
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(PHONE)
    await page.goto("/send")
    assert await page.is_checked("input[name=subscribers]")
    assert "Nà Phìn: 1" in await page.inner_text("#subscribers-label")
    await page.check("input[name=hamlets][value='Nà Phìn']")
    await page.fill("#text", "Họp thôn tối nay lúc 19h tại nhà văn hoá.")
    await page.click("#send-form button[type=submit]")
    confirm = page.locator("#confirm-send")
    assert "Sẽ gửi tới 3 người" in await confirm.inner_text()
    # the confirmation is where the eye is, not 1,600 px below the top
    assert await in_view(page, "#confirm-send")
    await shots(page, "send-subscribers-confirm")
    await confirm.locator("button").click()
    await page.wait_for_selector(".flash")
    sent = {m.number for m in await wait_sent(emulator, 4)}
    assert "+84987000111" in sent


async def test_nobody_reached_is_an_error_and_keeps_the_text(browser: Browser, site: Any) -> None:
    await sql(site, "insert into opt_outs (number, created_at) values ('+84912000009', 0)")
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    await page.check("input[name=hamlets][value='Khau Phạ']")
    await page.fill("#text", "Ngày mai cắt điện từ 7h đến 11h.")
    await page.click("#send-form button[type=submit]")
    error = page.locator("#error-to")
    assert "HUY" in await error.inner_text()
    assert "Đã xếp" not in await page.inner_text("main")
    assert await page.input_value("#text") == "Ngày mai cắt điện từ 7h đến 11h."
    assert await in_view(page, "#error-to")
    await shots(page, "send-nobody")


async def test_a_weekly_reminder_listed_edited_and_stopped(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    assert not await page.is_visible("#date")  # only the chosen kind's fields
    await page.check("input[name=hamlets][value='Khau Phạ']")
    await page.fill("#text", "Nhắc: thứ Hai thu gom rác.")
    await page.check("input[name=when][value=at]")
    assert await page.is_visible("#date") and not await page.is_visible("#monthday")
    await page.fill("#date", "2026-12-07")
    await page.fill("#time", "6h30")  # earlier today: refused while drafting
    await page.click("#send-form button[type=submit]")
    assert "đã qua" in await page.inner_text("#error-when")
    assert await in_view(page, "#error-when")
    await page.check("input[name=when][value=weekly]")
    await page.check("input[name=days][value=mon]")
    await page.fill("#time", "06.30")
    await page.click("#send-form button[type=submit]")
    await page.wait_for_selector("#reminder-list")
    assert "Đã đặt lịch nhắc: hằng tuần: Thứ Hai lúc 06:30" in await page.inner_text(".flash")
    row = page.locator("#reminder-list tr[id^=reminder-]")
    assert "hằng tuần: Thứ Hai lúc 06:30" in await row.inner_text()
    await shots(page, "send-reminders")
    await row.locator("a", has_text="Sửa").click()
    assert await page.input_value("#text") == "Nhắc: thứ Hai thu gom rác."
    assert await page.input_value("#time") == "06:30"
    await page.fill("#time", "7:15")
    await page.click("#send-form button[type=submit]")
    await page.wait_for_selector("#reminder-list")
    rows = page.locator("#reminder-list tr[id^=reminder-]")
    assert await rows.count() == 1
    assert "07:15" in await rows.inner_text()
    page.on("dialog", lambda d: d.accept())
    await rows.locator("button", has_text="Dừng").click()
    await page.wait_for_selector(".flash")
    assert "Đã dừng lịch nhắc" in await page.inner_text(".flash")
    assert await page.locator("#reminder-list").count() == 0


async def test_night_messages_cancelled_and_a_failed_one_resent(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    site.app[CLOCK].set(at(2026, 12, 7, 22, 30))  # the quiet hours: the messages wait for the morning
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    await page.check("input[name=hamlets][value='Nà Phìn']")
    await page.fill("#text", "Sáng mai họp thôn.")
    await page.click("#send-form button[type=submit]")
    await page.locator("#confirm-send button").click()
    await page.wait_for_selector(".flash")
    assert "nghỉ đêm" in await page.inner_text(".flash")
    await page.click("#batch-link a")
    assert "2 tin còn chờ gửi" in await page.inner_text("#cancel-batch")
    await shots(page, "messages-waiting")
    page.on("dialog", lambda d: d.accept())
    await page.click("#cancel-batch button")
    await page.wait_for_selector(".flash")
    assert "Đã huỷ 2 tin đang chờ gửi" in await page.inner_text(".flash")
    assert await sql(site, "select status from outbox order by id") == [("cancelled",), ("cancelled",)]
    statuses = page.locator("#messages td.status")
    assert "Đã huỷ" in await statuses.first.inner_text()
    # names beside numbers, which can be called
    assert await page.get_attribute("#messages a[href^='tel:']", "href") == "tel:+84912000002"
    # one of them is sent after all: "Gửi lại" sends it now
    await page.locator("#messages tr[id^=message-]").first.locator("button", has_text="Gửi lại").click()
    await page.wait_for_selector(".flash")
    assert "Đã xếp lại tin số 2" in await page.inner_text(".flash")
    (sent,) = await wait_sent(emulator, 1)
    assert sent.number == "+84912000002" and sent.text == "Sáng mai họp thôn."
    await shots(page, "messages-resent")


async def test_the_alert_counter_counts_what_is_really_sent(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/alerts")
    # 60 letters with diacritics: one part alone, two with "Trả lời OK để xác nhận đã nhận." added
    text = "Cảnh báo lũ quét: nước suối dâng nhanh, sơ tán các hộ ven suối"
    await page.fill("#alert-text", text)
    counter = await page.inner_text("#alert-counter")
    assert "2 tin" in counter and "+ 1 tin báo đã nhận" in counter and "1050 đ mỗi người" in counter
    await page.check("input[name=hamlets][value='Khau Phạ']")
    await page.uncheck("input[name=heads_only]")
    await page.click("#alert-form button[type=submit]")
    await page.wait_for_selector(".flash, .error")
    assert "Đã gửi cảnh báo" in await page.inner_text("main"), await page.inner_text("main")
    (sent,) = await wait_sent(emulator, 1)
    assert sent.text.endswith("Trả lời OK để xác nhận đã nhận.") and len(sent.text) > 70  # two parts, as counted
    await shots(page, "alert-counter")


async def test_the_phone_book_keeps_what_was_typed_and_changes_a_number(browser: Browser, site: Any) -> None:
    await sql(site, "insert into opt_outs (number, created_at) values ('+84912000002', 0)")
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(PHONE)
    await page.goto("/contacts")
    await page.fill("#new-name", "Vàng Thị Sua")
    await page.fill("#new-number", "0912")
    await page.select_option("#new-hamlet", "Khau Phạ")
    await page.click("form[method=post][action='/contacts'] button[type=submit]")
    await page.wait_for_selector(".flash.error")
    # the error beside the form, on screen, and nothing typed lost
    assert await in_view(page, ".flash.error")
    assert await page.input_value("#new-name") == "Vàng Thị Sua"
    assert await page.input_value("#new-number") == "0912"
    assert await page.input_value("#new-hamlet") == "Khau Phạ"
    await shots(page, "contacts-bad-number")
    # who sent HUY is marked; numbers can be called
    row = page.locator("#contacts tr", has_text="Giàng Thị Dua")
    assert "đã nhắn HUY" in await row.inner_text()
    assert await row.locator("a[href^='tel:']").count() == 1
    # a new SIM: the number is edited in place
    await page.locator("#contacts tr", has_text="Lò Thị Mai").locator("a", has_text="Sửa").click()
    await page.fill("#number", "0987 654 321")
    await page.click("#contact-form button[type=submit]")
    await page.wait_for_selector(".flash")
    assert "+84987654321" in await page.inner_text("#contacts")
    # an import's refused rows name the person
    csv = "Tên,Số điện thoại,Thôn\nHầu A Chứ,0912,Nà Phìn\n".encode()
    payload: FilePayload = {"name": "ds.csv", "mimeType": "text/csv", "buffer": csv}
    await page.set_input_files("#file", files=[payload])
    await page.click("form[action='/contacts/import'] button[type=submit]")
    await page.wait_for_selector("#import-report")
    assert "Dòng 2 (Hầu A Chứ)" in await page.inner_text("#import-report")
    await shots(page, "contacts-import-rejected")


async def test_automatic_answers_are_seen_and_a_wrong_one_taught_again(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    emulator.deliver("+84912000001", "cho em hỏi làm giấy khai sinh cho con cần gì")
    await routed_in(site, emulator)
    (answer,) = await wait_sent(emulator, 1)
    assert answer.text.startswith("Khai sinh")
    emulator.deliver("+84912000009", "Đường vào bản bị sạt lở, xã có cho người lên không?")
    await routed_in(site, emulator)
    sent = await wait_sent(emulator, 2)
    assert sent[-1].text.startswith("Cau hoi da chuyen toi can bo xa.")  # told it was passed on
    page = await login(browser, site, "canbo")
    await page.goto("/questions")
    row = page.locator("#auto-list tr[id^=auto-]")
    assert "Lò Thị Mai" in await row.inner_text() and "KS – Khai sinh" in await row.inner_text()
    # the open question names who asked, and a procedure's answer is seen before it is chosen
    asked = page.locator("#open-questions tr[id^=question-]")
    assert "Sùng A Páo" in await asked.inner_text()
    await asked.locator("select[name=procedure]").select_option("KT")
    assert "Dân sẽ nhận: “Khai tử" in await asked.locator(".procedure-answer").inner_text()
    await shots(page, "questions-auto-answers")
    await row.locator("button", has_text="Sai — dạy lại").click()
    await page.wait_for_selector(".flash")
    assert "Đã chuyển câu này vào Chưa trả lời" in await page.inner_text(".flash")
    again = page.locator("#open-questions tr", has_text="làm giấy khai sinh")
    assert await again.count() == 1
    assert "Đã chuyển để dạy lại" in await page.inner_text("#auto-list")


async def test_the_audit_log_filtered_paged_and_in_words_and_accounts_asked_first(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "quantri")
    # a new account: the least powerful role unless chosen
    await page.goto("/users")
    assert await page.input_value("#role") == "hamlet_head"
    await page.fill("#username", "yte")
    await page.fill("#password", "matkhau-dai-hon")
    await page.select_option("#hamlet", "Nà Phìn")
    await page.click("form[action='/users'] button[type=submit]")
    await page.wait_for_selector(".flash")
    # locking an account asks first, and looks unlike "Lưu"
    asked = []

    async def refuse(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.dismiss()

    page.once("dialog", refuse)
    row = page.locator("#users tr", has_text="yte")
    await row.locator("button", has_text="Khoá tài khoản").click()
    assert asked and "Khoá tài khoản yte?" in asked[0]
    assert "Đang dùng" in await row.inner_text()
    # the audit log: details in words, filtered by person and action
    await page.goto("/audit")
    text = await page.inner_text("#audit")
    assert "vai trò: Trưởng thôn" in text and "hamlet_head" not in text and '{"' not in text
    await page.select_option("#audit-user", "quantri")
    await page.fill("#audit-action", "tài khoản")
    await page.click("#audit-filter button")
    rows = page.locator("#audit tr:has(td)")
    assert await rows.count() == 1 and "thêm tài khoản" in await rows.inner_text()
    await page.fill("#audit-day", "2020-01-01")
    await page.click("#audit-filter button")
    assert "Không có dòng nào khớp bộ lọc" in await page.inner_text("#audit")
    await shots(page, "audit-filtered")


async def test_the_announcement_preview_plays_at_1366_and_headers_keep_their_words(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(DESKTOP)
    await page.goto("/announcements")
    await page.fill("#text", "Mời bà con đi họp thôn lúc 19 giờ tại nhà văn hoá")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1 audio")
    width = await page.evaluate("document.querySelector('#announcement-1 audio').getBoundingClientRect().width")
    assert width >= 250, width  # wide enough for its play button and time
    # each header on one line: "Ưu tiên", "Trạng thái" not broken letter by letter
    heights = await page.evaluate(
        "[...document.querySelectorAll('#announcements th')]"
        ".map(th => [th.textContent, th.getBoundingClientRect().height])"
    )
    line = min(h for t, h in heights if t)
    assert all(h <= line * 1.6 for t, h in heights if t), heights
    await page.screenshot(path=str(ARTIFACTS / "announcements-preview-desktop.png"), full_page=True)
    await shots(page, "announcements-preview")
