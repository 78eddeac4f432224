"""A reminder that repeats every minute (which the console cannot even list) is refused: one an hour
at most (issue #30, Low 10)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.core.keys import STORE
from gateway.testing import AUTH, EmulatedModem, csrf_of, log_in, sql
from gateway.web import accounts

PASSWORD = "matkhau-an-toan-1"


@pytest.mark.parametrize("cron", ["* * * * *", "*/5 * * * *", "0,1 8 * * *", "30 * * * *"])
async def test_a_reminder_more_often_than_hourly_is_refused(gateway: Any, cron: str) -> None:
    body = {"text": "Họp thôn", "to": {"hamlets": ["Nà Phìn"]}, "when": {"cron": cron}}
    resp = await gateway.post("/api/v1/reminders", json=body, headers=AUTH)
    if cron == "30 * * * *":  # hourly: the closest allowed
        assert resp.status == 201, await resp.text()
        return
    assert resp.status == 400, await resp.text()
    assert "quá dày" in (await resp.json())["error"]
    assert await sql(gateway, "select count(*) from reminders") == [(0,)]


async def test_the_heads_daily_ceiling_holds_for_reminders_and_the_console_send_too(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(emulator, broadcasts={"daily_segments_hamlet_head": 5})
    body = {"name": "Giàng Thị Dua", "number": "+84912000002", "hamlet": "Nà Phìn", "roles": ["resident"]}
    assert (await client.post("/api/v1/contacts", json=body, headers=AUTH)).status == 201
    store = client.app[STORE]
    user = await store.call(accounts.add_user, "truongthon", PASSWORD, "hamlet_head", "Nà Phìn", time.time())
    headers = {"Authorization": f"Bearer {await store.call(accounts.new_token, user.id, 'test', time.time())}"}
    long = "Hop thon " * 40  # 360 GSM-7 characters: 3 segments
    now = {"text": long, "to": {"hamlets": ["Nà Phìn"]}, "when": "now"}
    assert (await client.post("/api/v1/reminders", json=now, headers=headers)).status == 201
    refused = await client.post("/api/v1/reminders", json=now, headers=headers)
    assert refused.status == 429, await refused.text()
    # and through the console's send page (a reminder fired at once)
    assert await log_in(client, "truongthon", PASSWORD) == 303
    csrf = await csrf_of(client, "/send")
    form = {"csrf": csrf, "text": long, "hamlets": "Nà Phìn"}
    page = await (await client.post("/send", data=form)).text()
    assert "hạn mức" in page
    (segments,) = (await sql(client, "select coalesce(sum(segments), 0) from outbox"))[0]
    assert segments == 3
