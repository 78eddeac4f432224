"""The console's tests share these: the real app on a real port with its users and contacts, Debian's Chromium
driven by Playwright, logging in."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from gateway.app import create_app
from gateway.core.keys import STORE
from gateway.sms.keys import TRANSPORT
from gateway.testing import EmulatedModem, FakeClock, at, make_config, routed
from gateway.web import accounts

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
PASSWORD = "matkhau-an-toan-1"
NA_PHIN = [("Lò Thị Mai", "+84912000001"), ("Giàng Thị Dua", "+84912000002")]
KHAU_PHA = [("Sùng A Páo", "+84912000009")]
PHONE: ViewportSize = {"width": 360, "height": 740}
DESKTOP: ViewportSize = {"width": 1366, "height": 768}


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


async def routed_in(site: Any, emulator: EmulatedModem) -> None:
    class Client:
        app = site.app

    await routed(Client(), 1)
