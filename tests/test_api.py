"""The HTTP contract: /healthz, tokens, and clear errors for bad input."""

from __future__ import annotations

from typing import Any

from gateway.testing import AUTH, EmulatedModem, wait_inbox


async def test_healthz_reports_the_modem_and_the_outbox(gateway: Any) -> None:
    resp = await gateway.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["modem"] == body["modem"] | {
        "connected": True,
        "signal": 21,
        "operator": "Viettel",
        "manufacturer": "huawei",
        "model": "E3531",
    }
    assert body["outbox"] == {"queued": 0, "sent": 0, "delivered": 0, "failed": 0}


async def test_api_needs_a_valid_token(gateway: Any) -> None:
    payload = {"to": ["0912345678"], "text": "Xin chào"}
    resp = await gateway.post("/api/v1/messages", json=payload)
    assert resp.status == 401
    assert "token" in (await resp.json())["error"]
    resp = await gateway.post("/api/v1/messages", json=payload, headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    resp = await gateway.get("/api/v1/inbox", headers={"Authorization": "Basic abc"})
    assert resp.status == 401


async def test_bad_requests_get_clear_errors_and_nothing_is_queued(gateway: Any) -> None:
    cases = [
        ({"to": ["12345"], "text": "Xin chào"}, 400, "Số điện thoại không hợp lệ"),
        ({"to": ["0241234567"], "text": "Xin chào"}, 400, "di động"),  # a landline
        ({"to": [], "text": "Xin chào"}, 400, "'to'"),
        ({"to": ["0912345678"], "text": "   "}, 400, "trống"),
        ({"to": ["0912345678"]}, 400, "text"),
        ({"to": ["0912345678"], "text": "a", "priority": "urgent"}, 400, "priority"),
        ({"to": ["0912345678"], "text": "a", "encoding": "latin1"}, 400, "encoding"),
        ({"to": ["0912345678"], "text": "ồ" * 700}, 400, "quá dài"),
    ]
    for payload, status, fragment in cases:
        resp = await gateway.post("/api/v1/messages", json=payload, headers=AUTH)
        assert resp.status == status, payload
        body = await resp.json()
        assert fragment in body["error"], (payload, body)
    resp = await gateway.post(
        "/api/v1/messages", data=b"{not json", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    assert "JSON" in (await resp.json())["error"]
    resp = await gateway.post("/api/v1/messages", json=["0912345678"], headers=AUTH)
    assert resp.status == 400
    health = await (await gateway.get("/healthz")).json()
    assert health["outbox"]["queued"] == 0


async def test_unknown_and_malformed_message_ids(gateway: Any) -> None:
    resp = await gateway.get("/api/v1/messages/999", headers=AUTH)
    assert resp.status == 404
    assert "999" in (await resp.json())["error"]
    resp = await gateway.get("/api/v1/messages/abc", headers=AUTH)
    assert resp.status == 400
    resp = await gateway.get("/api/v1/nowhere", headers=AUTH)
    assert resp.status == 404


async def test_numbers_in_every_usual_form_reach_one_recipient(gateway: Any, emulator: EmulatedModem) -> None:
    resp = await gateway.post(
        "/api/v1/messages",
        json={"to": ["0912 345 678", "+84912345678", "84912345678"], "text": "Một tin"},
        headers=AUTH,
    )
    assert resp.status == 202
    body = await resp.json()
    assert body["to"] == ["+84912345678"] and len(body["ids"]) == 1


async def test_inbox_is_newest_first_and_pages(gateway: Any, emulator: EmulatedModem) -> None:
    for i in range(3):
        emulator.deliver("+84961234567", f"tin {i}")
        await wait_inbox(gateway, i + 1, AUTH)
    resp = await gateway.get("/api/v1/inbox?limit=2", headers=AUTH)
    page = (await resp.json())["messages"]
    assert [m["text"] for m in page] == ["tin 2", "tin 1"]
    assert set(page[0]) >= {"id", "from", "text", "received_at"}
    resp = await gateway.get(f"/api/v1/inbox?limit=2&before={page[-1]['id']}", headers=AUTH)
    assert [m["text"] for m in (await resp.json())["messages"]] == ["tin 0"]


async def test_changes_through_the_api_are_audited(gateway: Any) -> None:
    from gateway.core.keys import STORE
    from gateway.web import accounts

    resp = await gateway.post("/api/v1/messages", json={"to": ["0912345678"], "text": "Họp"}, headers=AUTH)
    assert resp.status == 202
    await gateway.post("/api/v1/messages", json={"to": ["1"], "text": "x"}, headers=AUTH)  # refused: not logged
    rows = await gateway.app[STORE].call(accounts.audit_log)
    assert [(r["user"], r["action"]) for r in rows] == [("api", "API POST /api/v1/messages")]
