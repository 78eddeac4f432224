"""Teaching the matcher must not poison other answers (issue #30's exact messages), and a teaching that
would change other answers is shown to the official before it is saved."""

from __future__ import annotations

import time
from typing import Any

from gateway.core.keys import STORE
from gateway.residents import kb
from gateway.residents.matcher import NOT_A_PROCEDURE, Example, Matcher
from gateway.testing import EmulatedModem, csrf_of, log_in, say, sql
from gateway.web import accounts

SEED = kb.load_seed()
DEATH = "Ông em sinh năm 1940, đi rồi, khai giấy gì"
PARTY = "Mời cả thôn đến dự đám cưới nhà em tối thứ bảy"


def taught(*examples: Example) -> Matcher:
    return Matcher(SEED.procedures, examples, SEED.not_questions, SEED.not_ours, SEED.negative)


def test_a_death_example_never_overrules_the_birth_words() -> None:
    m = taught(Example(DEATH, "KT"))
    assert m.match(DEATH).keys == ("KT",)
    assert m.match("cho em hoi lam giay khai sinh can gi a").keys == ("KS",)
    assert m.match("xin ban sao giay khai sinh").keys == ("TL",)  # a copy of the birth record


def test_a_party_marked_not_a_procedure_leaves_the_plain_birth_question_answered() -> None:
    m = taught(Example(PARTY, NOT_A_PROCEDURE), Example(DEATH, "KT"))
    assert m.match("cho em hoi lam giay khai sinh can gi a").keys == ("KS",)
    assert m.match("làm giấy khai sinh").keys == ("KS",)


async def test_a_teaching_that_changes_other_answers_is_previewed_before_it_is_saved(
    gateway: Any, emulator: EmulatedModem
) -> None:
    await gateway.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, time.time())
    assert await log_in(gateway, "canbo", "matkhau-an-toan-1") == 303
    # two residents' questions nobody could answer: the second one would change with the first's teaching
    await say(gateway, emulator, "nhà em có con lợn bị ốm", sender="+84912000005")
    await say(gateway, emulator, "con lợn nhà em bị ốm phải làm sao", sender="+84912000006")
    (first,) = (await sql(gateway, "select id from questions where sender='+84912000005'"))[0]
    csrf = await csrf_of(gateway, "/questions")
    resp = await gateway.post(
        f"/questions/{first}/procedure", data={"csrf": csrf, "procedure": "KS"}, allow_redirects=False
    )
    page = await resp.text()
    assert resp.status == 200, page
    assert 'id="teaching-changes"' in page and "con lợn nhà em bị ốm phải làm sao" in page
    assert "KS – Khai sinh" in page
    assert await sql(gateway, "select count(*) from examples") == [(0,)]  # nothing saved yet
    assert await sql(gateway, "select status from questions where id=?", first) == [("open",)]
    resp = await gateway.post(
        f"/questions/{first}/procedure",
        data={"csrf": csrf, "procedure": "KS", "confirm": "1"},
        allow_redirects=False,
    )
    assert resp.status == 303
    assert await sql(gateway, "select key from examples") == [("KS",)]
