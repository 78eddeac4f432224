"""The knowledge base (/procedures): an answer edited, a too long one refused."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from gateway.testing import EmulatedModem, wait_sent
from tests.console.conftest import login


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
