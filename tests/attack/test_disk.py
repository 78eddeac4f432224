"""A hamlet head cannot fill the disk with draft renders: a quota per account, stale drafts pruned,
and a reserve that renders never take, so alerts keep working on a nearly full disk."""

from __future__ import annotations

import time
from typing import Any

from gateway.core.keys import STORE
from gateway.testing import AUTH, EmulatedModem, FakeClock, at, sql
from gateway.web import accounts
from schedules.keys import SCHEDULER

TEXT = "Thông báo: sáng mai họp thôn lúc bảy giờ tại nhà văn hoá, đề nghị mỗi hộ cử một người đến dự. " * 3


async def head(client: Any) -> dict[str, str]:
    store = client.app[STORE]
    user = await store.call(accounts.add_user, "truongthon", "matkhau-an-toan-1", "hamlet_head", "Nà Phìn", time.time())
    return {"Authorization": f"Bearer {await store.call(accounts.new_token, user.id, 'test', time.time())}"}


async def draft(client: Any, headers: dict[str, str], text: str = TEXT) -> Any:
    body = {"text": text, "repeat": 1, "zones": ["Nà Phìn"]}
    return await client.post("/api/v1/announcements", json=body, headers=headers)


async def test_a_heads_drafts_stop_at_the_quota_and_anothers_still_render(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(emulator, audio={"draft_quota_mb": 1})
    headers = await head(client)
    statuses = []
    for i in range(6):
        resp = await draft(client, headers, f"{TEXT} Lần {i}.")
        statuses.append(resp.status)
        if resp.status == 429:
            assert "bản nháp" in (await resp.json())["error"]
            break
    assert statuses[-1] == 429 and statuses[:-1] and set(statuses[:-1]) == {201}
    (drafts,) = (await sql(client, "select count(*) from announcements where created_by='truongthon'"))[0]
    assert drafts == len(statuses) - 1
    # the commune's own token is not the head's quota
    assert (await draft(client, AUTH)).status == 201


async def test_renders_keep_out_of_the_reserve_and_alerts_still_go(emulator: EmulatedModem, start_gateway: Any) -> None:
    client = await start_gateway(emulator, audio={"reserve_mb": 10**9})  # as if the disk were nearly full
    resp = await draft(client, AUTH)
    assert resp.status == 507
    assert "Ổ đĩa gần đầy" in (await resp.json())["error"]
    body = {"name": "Vàng A Sử", "number": "+84912000001", "hamlet": "Nà Phìn", "roles": ["hamlet_head"]}
    assert (await client.post("/api/v1/contacts", json=body, headers=AUTH)).status == 201
    alert = {"text": "Lũ về", "to": {"numbers": ["+84912000001"]}}
    assert (await client.post("/api/v1/alerts", json=alert, headers=AUTH)).status == 201


async def test_a_draft_nobody_approved_is_pruned(emulator: EmulatedModem, start_gateway: Any) -> None:
    clock = FakeClock(at(2026, 12, 7, 10, 0))
    client = await start_gateway(emulator, clock=clock, audio={"draft_days": 3})
    headers = await head(client)
    assert (await draft(client, headers, "Họp thôn")).status == 201
    await client.app[SCHEDULER].advance(at(2026, 12, 7, 11, 0))
    assert await sql(client, "select status from announcements") == [("draft",)]
    await client.app[SCHEDULER].advance(at(2026, 12, 10, 11, 0))
    assert await sql(client, "select status from announcements") == [("cancelled",)]
