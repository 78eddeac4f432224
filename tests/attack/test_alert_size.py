"""One alert of exactly 10 parts must not stop every alert's follow-ups: alerts are sized with their
re-send when made, and one alert that cannot be followed up never holds another's."""

from __future__ import annotations

from typing import Any

from gateway.core.errors import InvalidRequest
from gateway.sms.encoding import prepare
from gateway.testing import AUTH, EmulatedModem, FakeClock, at, settled, sql, to
from schedules.keys import SCHEDULER

HEAD = "+84912000001"
OTHER = "+84912000002"
OFFICIAL = "+84912000009"


def ten_parts() -> str:
    """A Vietnamese alert whose first SMS is exactly 10 parts (UCS-2), the re-send 11."""
    text = "Lũ quét "
    while True:
        try:
            prepare(f"{text}x Trả lời OK để xác nhận đã nhận.", "auto")
        except InvalidRequest:
            return text
        text += "x"


async def add(client: Any, name: str, number: str) -> None:
    body = {"name": name, "number": number, "hamlet": "Nà Phìn", "roles": ["hamlet_head"]}
    assert (await client.post("/api/v1/contacts", json=body, headers=AUTH)).status == 201


async def test_an_alert_whose_resend_would_not_fit_is_refused_when_made(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    client = await start_gateway(emulator, sms={"encoding": "auto"})
    await add(client, "Vàng A Sử", HEAD)
    text = ten_parts()
    assert prepare(f"{text} Trả lời OK để xác nhận đã nhận.", "auto").segments == 10
    resp = await client.post("/api/v1/alerts", json={"text": text, "to": {"numbers": [HEAD]}}, headers=AUTH)
    assert resp.status == 400
    assert "Nhắc lại" in (await resp.json())["error"]
    assert await sql(client, "select count(*) from alerts") == [(0,)]
    assert await sql(client, "select count(*) from outbox") == [(0,)]


async def test_one_alert_that_cannot_be_resent_never_holds_anothers_escalation(
    emulator: EmulatedModem, start_gateway: Any
) -> None:
    clock = FakeClock(at(2026, 12, 5, 23, 0))
    client = await start_gateway(emulator, clock=clock, sms={"encoding": "auto"})
    await add(client, "Vàng A Sử", HEAD)
    await add(client, "Giàng A Páo", OTHER)
    # an alert made before alerts were sized (or by a version that let it through): its re-send is 11 parts
    await sql(
        client,
        "insert into alerts (text, created_at, confirm_minutes, escalate_to, status, source)"
        " values (?,?,30,?,'open','manual')",
        ten_parts(),
        clock.now,
        OFFICIAL,
    )
    await sql(
        client,
        "insert into alert_recipients (alert_id, number, name, sent_at) values (1, ?, 'Vàng A Sử', ?)",
        HEAD,
        clock.now,
    )
    body = {"text": "Sạt lở đường lên bản", "to": {"numbers": [OTHER]}, "confirm_minutes": 30, "escalate_to": OFFICIAL}
    resp = await client.post("/api/v1/alerts", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    second = (await resp.json())["id"]
    await settled(client)

    await client.app[SCHEDULER].advance(clock.now + 30 * 60)
    await settled(client)
    assert to(emulator, OTHER)[-1].text.startswith("Nhắc lại: Sạt lở")
    await client.app[SCHEDULER].advance(clock.now + 30 * 60)
    await settled(client)
    (escalation,) = to(emulator, OFFICIAL)
    assert escalation.text.startswith(f'Cảnh báo {second} "Sạt lở')
    assert dict(await sql(client, "select id, status from alerts")) == {1: "failed", second: "open"}
