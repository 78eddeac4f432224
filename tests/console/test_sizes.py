"""Sizes a finger and older eyes need: inputs at the page's text size, links and date/file inputs at least 24 px
tall, the hamlet head's header short enough to leave a phone's screen for the page."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from tests.console.conftest import DESKTOP, PHONE, login
from tests.console.test_day import shots

# what is smaller than it should be: a field or button under the text's 18 px, a link or a date/file input
# under 24 px tall (only what is shown)
TYPED = "main input:not([type=hidden]):not([type=checkbox]):not([type=radio]), main select, main textarea, button"
TAPPED = "a, input[type=date], input[type=file], input[type=datetime-local]"
SMALL = f"""() => [...document.querySelectorAll('{TYPED}')]
    .filter(e => e.offsetParent !== null && parseFloat(getComputedStyle(e).fontSize) < 18)
    .map(e => `${{e.tagName}} ${{e.name || e.textContent.trim()}} ${{getComputedStyle(e).fontSize}}`)
  .concat([...document.querySelectorAll('{TAPPED}')]
    .filter(e => e.offsetParent !== null && e.getBoundingClientRect().height < 24)
    .map(e => `${{e.tagName}} ${{e.name || e.textContent.trim()}} ${{e.getBoundingClientRect().height}}px`))"""
PAGES = ["/", "/send", "/messages", "/contacts", "/alerts", "/announcements", "/audit", "/users"]


async def test_inputs_links_and_buttons_are_big_enough(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "quantri")
    small = []
    for size in (PHONE, DESKTOP):
        await page.set_viewport_size(size)
        for path in PAGES:
            await page.goto(path)
            found = await page.evaluate(SMALL)
            small += [f"{path} {size['width']}: {f}" for f in found]
    assert small == []


async def test_the_hamlet_heads_header_leaves_the_phone_screen_to_the_page(browser: Browser, site: Any) -> None:
    page = await login(browser, site, "truongthon")
    await page.set_viewport_size(PHONE)
    await page.goto("/")
    height = await page.evaluate("document.querySelector('nav').getBoundingClientRect().height")
    assert height < 120, height
    await shots(page, "hamlet-head-header")
