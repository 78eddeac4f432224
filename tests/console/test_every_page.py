"""Every page at a phone's and a desktop's width, in Vietnamese, every field labelled."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser

from gateway.testing import AUTH, EmulatedModem, routed
from tests.console.conftest import ARTIFACTS, DESKTOP, PHONE, login

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
