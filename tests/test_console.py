"""The officials' console in a real browser: Debian's Chromium driven by Playwright, on the real app."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, FilePayload, Page, ViewportSize, async_playwright

from gateway.app import create_app
from gateway.core.keys import CLOCK, STORE
from gateway.residents.keys import RESIDENTS
from gateway.sms.keys import OUTBOX, TRANSPORT
from gateway.testing import (
    AUTH,
    VN,
    EmulatedModem,
    FakeClock,
    at,
    make_config,
    routed,
    say,
    settled,
    sql,
    to,
    wait_sent,
)
from gateway.web import accounts
from tests.resident_messages import INBOX, LEARNING_DAY

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "matkhau-an-toan-1"
NA_PHIN = [("Lò Thị Mai", "+84912000001"), ("Giàng Thị Dua", "+84912000002")]
KHAU_PHA = [("Sùng A Páo", "+84912000009")]


@pytest.fixture
async def browser(site: Any) -> AsyncIterator[Browser]:
    # depends on the site so that it closes first: the app's shutdown then has no browser connections to wait for
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: make test installs Debian's chromium")
    async with async_playwright() as p:
        b = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--autoplay-policy=no-user-gesture-required"],
        )  # fmt: skip
        yield b
        await b.close()


@pytest.fixture
async def site(aiohttp_server: Any, emulator: EmulatedModem, tmp_path: Path) -> Any:
    # a Monday at 10:00 in the commune: outside the quiet hours whatever time CI runs
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    emulator.network_time = clock  # the mobile network agrees with the test's clock
    # Nà Phìn has a loudspeaker line of its own; the other hamlets share the commune's
    app = create_app(make_config(tmp_path, emulator.path, player={"lines": ["Nà Phìn=1"]}), clock=clock)
    server = await aiohttp_server(app)
    await app[TRANSPORT].wait_connected()
    store = app[STORE]
    now = time.time()
    await store.call(accounts.add_user, "canbo", PASSWORD, "official", None, now)
    await store.call(accounts.add_user, "quantri", PASSWORD, "admin", None, now)
    await store.call(accounts.add_user, "truongthon", PASSWORD, "hamlet_head", "Nà Phìn", now)
    from broadcasts.people import add_contact

    for hamlet, people in (("Nà Phìn", NA_PHIN), ("Khau Phạ", KHAU_PHA)):
        for name, number in people:
            await store.call(add_contact, {"name": name, "number": number, "hamlet": hamlet}, now)
    server.url = str(server.make_url("")).rstrip("/")
    return server


async def login(browser: Browser, site: Any, username: str, password: str = PASSWORD) -> Page:
    page = await browser.new_page(base_url=site.url, locale="vi-VN")
    await page.goto("/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button[type=submit]")
    return page


async def test_log_in_send_to_a_hamlet_and_see_it_arrive(browser: Browser, site: Any, emulator: EmulatedModem) -> None:
    page = await login(browser, site, "canbo")
    await page.wait_for_selector("#modem")
    assert "Đang kết nối" in await page.inner_text("#modem")
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


async def test_an_sms_carrying_a_script_shows_as_text_and_the_answer_goes_out(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    emulator.deliver("+84961234567", "<script>window.pwned=1</script><b>xã ơi</b> đường bị ngập")
    await routed_in(site, emulator)
    page = await login(browser, site, "canbo")
    await page.goto("/questions")
    cell = page.locator("#open-questions td.question").first
    assert await cell.inner_text() == "<script>window.pwned=1</script><b>xã ơi</b> đường bị ngập"
    assert await page.evaluate("() => window.pwned === undefined")
    assert await page.locator("#open-questions b").count() == 0
    before = len(emulator.messages())
    await page.fill("#open-questions textarea", "Xã đã cử người xuống kiểm tra đoạn đường ngập.")
    await page.click("#open-questions form[action$='/answer'] button")
    await page.wait_for_selector(".flash")
    sent = await wait_sent(emulator, before + 1)
    assert sent[-1].number == "+84961234567"
    assert sent[-1].text == "Xã đã cử người xuống kiểm tra đoạn đường ngập."


async def routed_in(site: Any, emulator: EmulatedModem) -> None:
    class Client:
        app = site.app

    await routed(Client(), 1)


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


async def test_a_form_without_its_csrf_token_is_refused(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/send")
    resp = await page.request.post("/send", form={"hamlets": "Nà Phìn", "text": "Tin giả mạo"})
    assert resp.status == 403
    assert "CSRF" in await resp.text()
    assert await sql_outbox(site) == 0


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
    assert [r["action"] for r in rows[:2]] == ["đăng nhập", "đăng nhập bị từ chối"]


async def test_an_official_edits_an_answer_and_a_too_long_one_is_refused_beside_its_field(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/procedures")
    form = page.locator("#procedure-KS")
    too_long = "Khai sinh: " + "mang đủ giấy tờ cần thiết " * 6
    await form.locator("textarea[name=answer]").fill(too_long)
    # counted while typing, marked when it needs more than two SMS
    assert "3 tin" in await page.inner_text("#count-answer-KS")
    assert "bad" in (await page.get_attribute("#count-answer-KS", "class") or "")
    await form.locator("button").click()
    error = page.locator("#procedure-KS .error")
    assert "3 tin nhắn" in await error.inner_text()
    assert await page.locator("#procedure-KS textarea[name=answer]").input_value() == too_long
    await page.locator("#procedure-KS textarea[name=answer]").fill("Khai sinh: mang tờ khai và giấy chứng sinh.")
    await page.locator("#procedure-KS button").click()
    await page.wait_for_selector("#saved-KS")
    box = await page.locator("#saved-KS").bounding_box()
    assert box is not None and 0 <= box["y"] < 768  # the confirmation where the eye is, not at the top
    emulator.deliver("+84961234567", "KS")
    (reply,) = await wait_sent(emulator, 1)
    assert reply.text == "Khai sinh: mang tờ khai và giấy chứng sinh."


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


async def test_a_day_of_questions_answered_by_procedure_teaches_the_answers_to_the_next_residents(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    class Client:
        app = site.app

    residents = site.app[RESIDENTS]
    firsts = {f"+849612{i:05d}": (first, key) for i, (first, _, key) in enumerate(LEARNING_DAY)}
    for number, (text, _) in firsts.items():
        emulator.deliver(number, text)
    await routed(Client(), len(firsts))
    assert await sql(Client(), "select count(*) from questions where status='open'") == [(len(firsts),)]
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(PHONE)  # an official on the phone, as on the road
    for number, (text, key) in firsts.items():
        ((qid,),) = await sql(Client(), "select id from questions where sender=?", number)
        await page.goto("/questions")
        row = page.locator(f"#question-{qid}")
        assert await row.locator(".question").inner_text() == text
        if key == INBOX:
            await row.locator("button:text('Không phải thủ tục')").click()
        else:
            await row.locator("select[name=procedure]").select_option(key)
            await row.locator("button:text('Gửi câu trả lời này')").click()
        await page.wait_for_selector(".flash")
    await page.screenshot(path=str(ARTIFACTS / "questions-learned-phone.png"), full_page=True)
    await settled(Client())
    for number, (_, key) in firsts.items():
        texts = [m.text for m in to(emulator, number)]
        if key != INBOX:
            assert texts[-1] == residents.procedures[key].answer  # what the commune wrote, word for word
    # the next residents say the same things in their own words: answered without anyone
    right = wrong = 0
    for i, (_, second, key) in enumerate(LEARNING_DAY):
        number = f"+849613{i:05d}"
        replies = await say(Client(), emulator, second, sender=number)
        answers = [k for k, p in residents.procedures.items() for r in replies if r.text == p.answer]
        asked = await sql(Client(), "select count(*) from questions where sender=?", number)
        if key == INBOX:
            right += answers == [] and asked == [(1,)]
        else:
            right += answers == [key]
        wrong += bool(answers) and answers != [key]
    assert right >= len(LEARNING_DAY) - 2 and wrong == 0, (right, wrong)
    await page.goto("/procedures#examples")
    assert await page.locator("#examples tr:has(form)").count() == len(LEARNING_DAY)
    await page.screenshot(path=str(ARTIFACTS / "procedures-examples-phone.png"), full_page=True)


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


async def test_an_announcement_says_what_it_will_do_refuses_what_it_would_ignore_and_can_be_edited(
    browser: Browser, site: Any
) -> None:
    page = await login(browser, site, "canbo")
    await page.goto("/announcements")
    text = "Mời bà con đi họp thôn lúc 19 giờ tại nhà văn hoá"
    await page.fill("#text", text)
    await page.check("#announce-form input[name=zones][value='Nà Phìn']")
    # "Một lần" with a weekday ticked: refused by name, nothing typed lost
    await page.check("input[name=kind][value=once]")
    await page.fill("#at", "2026-12-09T19:00")
    await page.check("input[name=days][value=mon]")
    await page.click("#announce-form button[type=submit]")
    assert 'Đã chọn "Một lần" nhưng có nhập thứ trong tuần' in await page.inner_text("#error-when")
    assert await page.input_value("#text") == text
    assert await page.is_checked("#announce-form input[name=zones][value='Nà Phìn']")
    # every Monday and Thursday at 06:30 from 10 December
    await page.check("input[name=kind][value=weekly]")
    await page.fill("#at", "")
    await page.check("input[name=days][value=thu]")
    await page.fill("#time", "06:30")
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
    await page.uncheck("input[name=days][value=mon]")
    await page.uncheck("input[name=days][value=thu]")
    await page.fill("#monthday", "5")
    await page.click("#announce-form button[type=submit]")
    await page.wait_for_selector("#announcement-1")
    assert (
        await page.inner_text("#announcement-1 .plan") == "Phát 06:30 ngày 5 hằng tháng, từ 10/12/2026, ở thôn Nà Phìn"
    )
    await page.click("#announcement-1 a:text('Sửa')")
    await page.check("input[name=kind][value=weekly]")
    await page.fill("#monthday", "")
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


PAGES = {
    "quantri": [
        "/",
        "/send",
        "/messages",
        "/announcements",
        "/questions",
        "/alerts",
        "/procedures",
        "/contacts",
        "/hamlets",
        "/users",
        "/audit",
    ],
    "truongthon": ["/", "/send", "/messages", "/alerts", "/contacts", "/account"],
}
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1366, "height": 768}


async def seed_every_page(site: Any, emulator: EmulatedModem) -> None:
    """Rows in every table: an announcement, an alert, a resident's long question, a failed SMS."""
    async with aiohttp.ClientSession(base_url=site.url, headers=AUTH) as api:
        made = await api.post(
            "/api/v1/announcements",
            json={
                "text": "Chiều nay 14 giờ họp thôn tại nhà văn hoá thôn Nà Phìn, mời bà con đến đúng giờ.",
                "repeat": 1,
            },
        )
        assert made.status == 201
        alert = {
            "text": "Cảnh báo lũ quét: nước suối dâng nhanh, sơ tán ngay các hộ ven suối.",
            "to": {"hamlets": ["Nà Phìn"]},
        }
        assert (await api.post("/api/v1/alerts", json=alert)).status == 201
    emulator.deliver(
        "+84961234567",
        "Cho em hỏi đường liên thôn từ Nà Phìn lên Khau Phạ bị sạt lở từ hôm qua, bao giờ xã cho người"
        " lên sửa, xe máy có đi được không ạ? Nhà em ở cuối bản, đi chợ phải lội suối.",
    )

    class Client:
        app = site.app

    await routed(Client(), 1)


@pytest.mark.parametrize("username", list(PAGES))
async def test_every_page_fits_a_360_px_phone_and_a_desktop(
    browser: Browser, site: Any, emulator: EmulatedModem, username: str
) -> None:
    await seed_every_page(site, emulator)
    ARTIFACTS.mkdir(exist_ok=True)
    too_wide = []
    for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
        page = await login(browser, site, username)
        await page.set_viewport_size(size)
        for path in PAGES[username]:
            await page.goto(path)
            width = await page.evaluate("document.documentElement.scrollWidth")
            if width > size["width"]:
                too_wide.append(f"{path} at {name}: {width} px")
            slug = path.strip("/") or "dashboard"
            await page.screenshot(path=str(ARTIFACTS / f"{username}-{slug}-{name}.png"), full_page=True)
        await page.close()
    assert too_wide == [], too_wide


# English that has leaked into pages before (statuses, priorities, roles, relay states, error glosses,
# API paths, seed text); words that are also Vietnamese without diacritics ("to", "the", "do") are left out
ENGLISH = set(
    """draft scheduled done cancelled canceled failed queued sending sent delivered pending error errors invalid
    missing unknown number numbers phone message messages reply answer answered question questions procedure
    reference sheet token tokens admin official resident residents hamlet hamlets head relay post delete
    segments segment encoding status priority none null true false login logout password user users username
    audit role roles send alert alerts announcement announcements loudspeaker signal operator network checked
    unconfirmed emulated played missed late interrupted playing active recording contacts contact group groups
    reminder reminders page next previous older save edit cancel approve yes start off and with from for of is
    are not api json http confirmed closed open opted capped deferred expected forbidden allowed denied""".split()  # noqa: SIM905
)
JARGON = ("GSM-7", "UCS-2", "GSM7", "UCS2", " UTC")


@pytest.mark.parametrize("username", list(PAGES))
async def test_no_page_speaks_english_and_every_field_has_a_label(
    browser: Browser, site: Any, emulator: EmulatedModem, username: str
) -> None:
    await seed_every_page(site, emulator)
    page = await login(browser, site, username)
    found = {}
    for path in PAGES[username]:
        await page.goto(path)
        text = await page.evaluate(
            """() => [document.title, document.body.innerText,
                      ...[...document.querySelectorAll('[placeholder],[aria-label],[title]')].map(e =>
                          [e.getAttribute('placeholder'), e.getAttribute('aria-label'), e.getAttribute('title')]
                          .filter(Boolean).join(' ')),
                      ...[...document.querySelectorAll('input[type=text]')].map(e => e.value),
                      ...[...document.querySelectorAll('option')].map(e => e.textContent)].join(' ')"""
        )
        words = {w for w in re.findall(r"[A-Za-z]+", text) if not w.isupper() and w.lower() in ENGLISH}
        jargon = [j for j in JARGON if j in text]
        # every field a person fills in has a label (older eyes, screen readers, a tap on the words)
        unlabelled = await page.evaluate(
            """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
                   .map(e => e.name || e.id)"""
        )
        if words or jargon or unlabelled:
            found[path] = sorted(words) + jargon + [f"no label: {n}" for n in unlabelled]
    assert found == {}, found


async def test_a_page_a_hamlet_head_may_not_open_says_so_in_vietnamese_with_the_navigation(
    browser: Browser, site: Any
) -> None:
    page = await login(browser, site, "truongthon")
    await page.wait_for_selector("#modem")
    resp = await page.goto("/announcements")
    assert resp is not None and resp.status == 403
    assert await page.inner_text("#forbidden") == "Tài khoản của bạn không xem được trang này."
    assert await page.inner_text("nav") and "Tổng quan" in await page.inner_text("nav")


async def test_the_dashboard_shows_each_modem_of_a_pool_and_a_pulled_one(
    aiohttp_server: Any, emulator: EmulatedModem, tmp_path: Path
) -> None:
    second = EmulatedModem("huawei", link_dir=tmp_path / "m2")
    await second.start()
    fast = {"command_timeout": 2.0, "send_timeout": 5.0, "reconnect_min": 0.05, "reconnect_max": 0.2}
    mobifone = {"port": second.path, "name": "modem Mobifone", "carrier": "mobifone", **fast}
    config = make_config(
        tmp_path, emulator.path, modem={"name": "modem Viettel", "carrier": "viettel"}, modems=[mobifone]
    )
    app = create_app(config)
    server = await aiohttp_server(app)
    server.url = str(server.make_url("")).rstrip("/")
    for channel in app[OUTBOX].channels:
        await channel.transport.wait_connected()
    await app[STORE].call(accounts.add_user, "canbo", PASSWORD, "official", None, time.time())
    async with aiohttp.ClientSession(base_url=server.url, headers=AUTH) as api:
        to = ["0961000001", "0961000002", "0901000003"]
        assert (await api.post("/api/v1/messages", json={"to": to, "text": "Họp thôn 19h"})).status == 202
    await wait_sent(emulator, 2)
    await wait_sent(second, 1)
    await second.vanish()
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = await login(b, server, "canbo")
        cards = page.locator(".card.transport")
        assert await cards.count() == 2
        first, other = await cards.nth(0).inner_text(), await cards.nth(1).inner_text()
        assert "Modem Viettel" in first and "Đang kết nối" in first and "SIM Viettel" in first
        assert "Hôm nay đã gửi 2 phần tin" in first
        assert "Modem Mobifone" in other and "Mất kết nối: tin của nó chuyển sang đường khác" in other
        assert "Hôm nay đã gửi 1 phần tin" in other
        for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            await page.set_viewport_size(size)
            assert await page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            await page.screenshot(path=str(ARTIFACTS / f"pool-dashboard-{name}.png"), full_page=True)
        await b.close()
    await second.close()
