"""A reminder that repeats every minute (which the console cannot even list) is refused: one an hour
at most (issue #30, Low 10)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.testing import AUTH, sql


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
