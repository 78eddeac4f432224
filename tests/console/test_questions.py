"""Residents' questions (/questions): shown as text, answered, taught to the knowledge base."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Browser

from gateway.residents.keys import RESIDENTS
from gateway.testing import EmulatedModem, routed, say, settled, sql, to, wait_sent
from tests.console.conftest import ARTIFACTS, PHONE, login, routed_in
from tests.resident_messages import INBOX, LEARNING_DAY


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
    # the seed answers some first messages by itself; the officials teach the others
    taught = {n for (n,) in await sql(Client(), "select sender from questions where status='open'")}
    assert len(taught) >= len(firsts) // 2, taught
    page = await login(browser, site, "canbo")
    await page.set_viewport_size(PHONE)  # an official on the phone, as on the road
    for number, (text, key) in firsts.items():
        if number not in taught:
            continue
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
        else:
            assert number in taught  # a non-question is never answered with a procedure
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
    assert await page.locator("#examples tr:has(form)").count() == len(taught)
    await page.screenshot(path=str(ARTIFACTS / "procedures-examples-phone.png"), full_page=True)
