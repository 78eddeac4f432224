"""The dashboard (/): each modem of a pool, a pulled one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import async_playwright

from gateway.app import create_app
from gateway.core.keys import STORE
from gateway.sms.keys import OUTBOX
from gateway.testing import AUTH, EmulatedModem, make_config, until, wait_sent
from gateway.web import accounts
from tests.console.conftest import ARTIFACTS, CHROMIUM, DESKTOP, PASSWORD, PHONE, login


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
        assert "Modem Viettel" in first and "Đã kết nối" in first and "SIM Viettel" in first
        assert "Hôm nay đã gửi 2 phần tin" in first
        assert "Modem Mobifone" in other and "Mất kết nối: tin của nó chuyển sang đường khác" in other
        assert "Hôm nay đã gửi 1 phần tin" in other
        assert "Sóng" not in other  # its old signal is not shown as if it were now
        assert "Sóng" in first and await cards.nth(0).locator("button", has_text="Xem số dư SIM").count() == 1
        for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            await page.set_viewport_size(size)
            assert await page.evaluate("document.documentElement.scrollWidth") <= size["width"]
            await page.screenshot(path=str(ARTIFACTS / f"pool-dashboard-{name}.png"), full_page=True)
        # the first modem pulled too: no old signal, no balance button that could not work
        await emulator.vanish()

        class Client:
            app = server.app

        async def lost() -> bool:
            return not app[OUTBOX].channels[0].transport.info.connected

        await until(Client(), lost)
        await page.reload()
        first = await cards.nth(0).inner_text()
        assert "Mất kết nối" in first and "Sóng" not in first
        assert await page.locator("button", has_text="Xem số dư SIM").count() == 0
        for name, size in (("phone", PHONE), ("desktop", DESKTOP)):
            await page.set_viewport_size(size)
            await page.screenshot(path=str(ARTIFACTS / f"dashboard-disconnected-{name}.png"), full_page=True)
        await b.close()
    await second.close()
