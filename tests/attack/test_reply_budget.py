"""No commune-wide ceiling on automatic replies let 1,000 numbers cost 3.5 M đ a day: a budget for the
whole commune, and the officials told when it is spent (issue #30, Low 11)."""

from __future__ import annotations

import time
from typing import Any

from gateway.core.keys import STORE
from gateway.testing import EmulatedModem, log_in, say, sql
from gateway.web import accounts


async def test_the_communes_automatic_replies_stop_at_the_budget_and_the_dashboard_says_so(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(emulator, sms={"daily_auto_replies": 3})
    answered = [bool(await say(client, emulator, "KS", sender=f"+8491200{i:04d}")) for i in range(6)]
    assert answered == [True, True, True, False, False, False]
    assert await sql(client, "select count(*) from outbox where source like 'auto:%'") == [(3,)]
    assert await sql(client, "select count(*) from inbox") == [(6,)]  # every message kept
    await client.app[STORE].call(accounts.add_user, "canbo", "matkhau-an-toan-1", "official", None, time.time())
    assert await log_in(client, "canbo", "matkhau-an-toan-1") == 303
    page = await (await client.get("/")).text()
    assert 'id="reply-budget"' in page and "trả lời tự động" in page
