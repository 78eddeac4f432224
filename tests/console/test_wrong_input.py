"""Every form sent with wrong input, as a hurried person would: each answer read for English, raw codes and
device errors; stale links and unknown addresses answer a Vietnamese page."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from playwright.async_api import Browser, Page

from gateway.testing import AUTH, EmulatedModem
from tests.console.conftest import login
from tests.console.test_day import in_view, shots
from tests.console.test_every_page import ENGLISH, JARGON, seed_every_page

# raw codes that leaked before: stored words, config keys, JSON, Python's errors
RAW = re.compile(r"hamlet_head|health_worker|confirm_minutes|escalate_to|\[Errno|Traceback|\{\"|\"\}|\bNone\b|_id\b")


async def wrong(page: Page, path: str, fill: Callable[[Page], Awaitable[None]], submit: str) -> str:
    await page.goto(path)
    await fill(page)
    async with page.expect_navigation():
        await page.click(submit)
    return str(await page.inner_text("body"))


def english(text: str) -> list[str]:
    words = {w for w in re.findall(r"[A-Za-z]+", text) if not w.isupper() and w.lower() in ENGLISH}
    return sorted(words) + [j for j in JARGON if j in text] + RAW.findall(text)


async def _send(p: Page) -> None:
    await p.fill("#numbers", "0123\nabc")
    await p.fill("#text", "x" * 2000)


async def _alert(p: Page) -> None:
    await p.fill("#alert-text", "Lũ")
    await p.check("input[name=hamlets][value='Nà Phìn']")
    await p.fill("#minutes", "99999")
    await p.fill("#escalate", "12ab")


async def _alert_minutes(p: Page) -> None:
    await p.fill("#alert-text", "Lũ")
    await p.check("input[name=hamlets][value='Nà Phìn']")
    await p.fill("#minutes", "0")


async def _contact(p: Page) -> None:
    await p.fill("#new-name", "Vàng Thị Sua")
    await p.fill("#new-number", "0912")


async def _hamlet(p: Page) -> None:
    await p.fill("#new-hamlet", "Nà Phìn")


async def _user(p: Page) -> None:
    await p.fill("#username", "truongthon")
    await p.fill("#password", "ngan")
    await p.select_option("#role", "hamlet_head")


async def _announcement(p: Page) -> None:
    await p.fill("#text", "Họp thôn")
    await p.check("input[name=kind][value=weekly]")
    await p.check("input[name=days][value=mon]")
    await p.fill("#time", "25h70")


async def _answer(p: Page) -> None:
    await p.locator("textarea[name=text]").first.fill("Trả lời " * 100)


async def _procedure(p: Page) -> None:
    await p.fill("#answer-KS", "Khai sinh: " + "mang giấy tờ đến xã " * 20)
    await p.fill("#checked-on-KS", "hôm qua")


async def _password(p: Page) -> None:
    await p.fill("#old", "sai-mat-khau")
    await p.fill("#new", "ngan")
    await p.fill("#again", "khac")


FORMS: list[tuple[str, Callable[[Page], Awaitable[None]], str]] = [
    ("/send", _send, "#send-form button[type=submit]"),
    ("/alerts", _alert, "#alert-form button[type=submit]"),
    ("/alerts", _alert_minutes, "#alert-form button[type=submit]"),
    ("/contacts", _contact, "form[method=post][action='/contacts'] button[type=submit]"),
    ("/hamlets", _hamlet, "form[action='/hamlets'] button[type=submit]"),
    ("/users", _user, "form[action='/users'] button[type=submit]"),
    ("/announcements", _announcement, "#announce-form button[type=submit]"),
    ("/questions", _answer, "form[action$='/answer'] button[type=submit]"),
    ("/account", _password, "#password-form button[type=submit]"),
    ("/procedures", _procedure, "form[action='/procedures/KS'] button[type=submit]"),
]


async def test_every_form_answers_wrong_input_in_vietnamese(
    browser: Browser, site: Any, emulator: EmulatedModem
) -> None:
    await seed_every_page(site, emulator)
    page = await login(browser, site, "quantri")
    found = {}
    for path, fill, submit in FORMS:
        text = await wrong(page, path, fill, submit)
        errors = await page.locator(".error, .flash.error").all_inner_texts()
        assert errors, f"{path} {fill.__name__}: no error shown: {page.url} {text[:3000]}"
        if leaked := english(" ".join(errors)):
            found[f"{path} {fill.__name__}"] = (leaked, errors)
        assert text
    assert found == {}, found


async def test_stale_links_and_unknown_addresses_answer_in_vietnamese(browser: Browser, site: Any) -> None:
    async with aiohttp.ClientSession(base_url=site.url, headers=AUTH) as api:
        body = {"text": "Họp thôn", "repeat": 1, "when": {"at": "2026-12-08T08:00"}}
        made = await (await api.post("/api/v1/announcements", json=body)).json()
    page = await login(browser, site, "canbo")
    await page.goto("/announcements")
    # someone else approves it meanwhile: "Sửa" then says so in words, not raw JSON
    async with aiohttp.ClientSession(base_url=site.url, headers=AUTH) as api:
        assert (await api.post(f"/api/v1/announcements/{made['id']}/approve", json={})).status == 200
    await page.click(f"#announcement-{made['id']} a:text('Sửa')")
    said = await page.inner_text("#page-error")
    assert "đã được duyệt" in said and "chỉ sửa được bản nháp" in said
    assert not english(said)
    await shots(page, "stale-edit")
    # approving a draft cancelled meanwhile
    async with aiohttp.ClientSession(base_url=site.url, headers=AUTH) as api:
        other = await (await api.post("/api/v1/announcements", json={"text": "Tiêm chủng", "repeat": 1})).json()
    await page.goto("/announcements")
    async with aiohttp.ClientSession(base_url=site.url, headers=AUTH) as api:
        assert (await api.post(f"/api/v1/announcements/{other['id']}/cancel", json={})).status == 204
    await page.click(f"#announcement-{other['id']} button:text('Duyệt')")
    said = await page.inner_text(".flash.error")
    assert "đã bị huỷ" in said and "cancelled" not in said
    assert await in_view(page, ".flash.error")
    # an address that is not there
    response = await page.goto("/khong-co-trang-nay")
    assert response is not None and response.status == 404
    assert "Không có trang này" in await page.inner_text("main")
    assert "Not Found" not in await page.inner_text("body")
    await shots(page, "not-found")
