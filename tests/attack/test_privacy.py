"""A hamlet head's "Tin đã gửi" shows what was sent to the hamlet's lists, never a resident's private
answers (an official's reply to a question, the automatic answers) (issue #30, Low 9)."""

from __future__ import annotations

import time
from typing import Any

from gateway.core.keys import STORE
from gateway.testing import AUTH, EmulatedModem, log_in, say, settled, sql
from gateway.web import accounts

RESIDENT = "+84912000002"
PASSWORD = "matkhau-an-toan-1"


async def test_a_head_sees_the_hamlets_broadcasts_not_its_residents_private_answers(
    gateway: Any, emulator: EmulatedModem
) -> None:
    body = {"name": "Giàng Thị Dua", "number": RESIDENT, "hamlet": "Nà Phìn", "roles": ["resident"]}
    assert (await gateway.post("/api/v1/contacts", json=body, headers=AUTH)).status == 201
    assert await say(gateway, emulator, "KS", sender=RESIDENT)  # an automatic answer
    await say(gateway, emulator, "Nhà em có việc riêng muốn hỏi chị Hoa", sender=RESIDENT)
    (qid,) = (await sql(gateway, "select id from questions"))[0]
    reply = {"text": "Chị mang hộ chiếu của chồng lên xã thứ Hai, cán bộ tư pháp hướng dẫn riêng."}
    assert (await gateway.post(f"/api/v1/questions/{qid}/answer", json=reply, headers=AUTH)).status == 202
    news = {"to": [RESIDENT], "text": "Họp thôn tối nay lúc 19h tại nhà văn hoá"}
    assert (await gateway.post("/api/v1/messages", json=news, headers=AUTH)).status == 202
    await settled(gateway)

    store = gateway.app[STORE]
    await store.call(accounts.add_user, "truongthon", PASSWORD, "hamlet_head", "Nà Phìn", time.time())
    assert await log_in(gateway, "truongthon", PASSWORD) == 303
    page = await (await gateway.get("/messages")).text()
    assert "Họp thôn tối nay" in page
    assert "hộ chiếu" not in page and "Khai sinh" not in page
    # an official still sees all of them
    gateway.session.cookie_jar.clear()
    await store.call(accounts.add_user, "canbo", PASSWORD, "official", None, time.time())
    assert await log_in(gateway, "canbo", PASSWORD) == 303
    page = await (await gateway.get("/messages")).text()
    assert "hộ chiếu" in page and "Họp thôn tối nay" in page
