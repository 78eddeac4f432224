"""The JSON API and /healthz: thin handlers over the outbox, inbox and modem."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.errors import InvalidRequest, ModemError, Unauthorized
from gateway.keys import CONFIG, HARDWARE, OUTBOX, STORE, TOKENS
from gateway.sms import inbox as inbox_db
from gateway.sms import numbers
from gateway.sms import outbox as outbox_db
from gateway.sms.encoding import POLICIES, prepare

routes = web.RouteTableDef()


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _authorise(request: web.Request) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Cần đăng nhập: thiếu token (missing bearer token)")
    if not any(hmac.compare_digest(token.encode(), t.encode()) for t in request.app[TOKENS]):
        raise Unauthorized("Token không hợp lệ (invalid token)")


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("Dữ liệu gửi lên không phải JSON hợp lệ (invalid JSON)") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Cần một đối tượng JSON (expected a JSON object)")
    return body


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    info = request.app[HARDWARE].modem.info
    counts = await request.app[STORE].call(outbox_db.counts)
    return _json(
        {
            "status": "ok" if info.connected else "degraded",
            "modem": {
                "connected": info.connected,
                "emulated": info.emulated,
                "signal": info.signal,
                "signal_dbm": info.signal_dbm,
                "operator": info.operator,
                "manufacturer": info.manufacturer,
                "model": info.model,
                "last_error": info.last_error,
            },
            "outbox": {
                "queued": counts["queued"] + counts["sending"],
                "sent": counts["sent"],
                "delivered": counts["delivered"],
                "failed": counts["failed"],
            },
        }
    )


@routes.post("/api/v1/messages")
async def send_messages(request: web.Request) -> web.Response:
    _authorise(request)
    body = await _body(request)
    to = body.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not to or not all(isinstance(x, str) for x in to):
        raise InvalidRequest("Cần ít nhất một số nhận trong 'to' (to: list of numbers)", field="to")
    text = body.get("text")
    if not isinstance(text, str):
        raise InvalidRequest("Thiếu nội dung 'text' (text missing)", field="text")
    priority = body.get("priority", "reminder")
    if priority not in outbox_db.PRIORITIES:
        raise InvalidRequest(
            f"priority phải là một trong {', '.join(outbox_db.PRIORITIES)}", field="priority"
        )
    policy = body.get("encoding", request.app[CONFIG].sms.encoding)
    if policy not in POLICIES:
        raise InvalidRequest(f"encoding phải là một trong {', '.join(POLICIES)}", field="encoding")
    recipients = list(dict.fromkeys(numbers.normalise(n) for n in to))
    prepared = prepare(text, policy)
    ids = await request.app[OUTBOX].enqueue(recipients, prepared, priority=priority, source="api")
    return _json(
        {
            "ids": ids,
            "to": recipients,
            "segments": prepared.segments,
            "encoding": prepared.encoding,
            "body": prepared.body,
            "folded": prepared.folded,
        },
        status=202,
    )


def _message_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "to": row["recipient"],
        "text": row["text"],
        "body": row["body"],
        "encoding": row["encoding"],
        "segments": row["segments"],
        "priority": outbox_db.PRIORITY_NAMES[row["priority"]],
        "status": row["status"],
        "tries": row["tries"],
        "last_error": row["last_error"],
        "created_at": _iso(row["created_at"]),
        "sent_at": _iso(row["sent_at"]),
        "delivered_at": _iso(row["delivered_at"]),
        "failed_at": _iso(row["failed_at"]),
        "parts": [
            {
                "part": p["part"],
                "reference": p["reference"],
                "status": p["status"],
                "sent_at": _iso(p["sent_at"]),
                "report_at": _iso(p["report_at"]),
            }
            for p in row["parts"]
        ],
    }


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"{name} phải là số nguyên (must be an integer)", field=name) from None


@routes.get("/api/v1/messages/{id}")
async def get_message(request: web.Request) -> web.Response:
    _authorise(request)
    row = await request.app[STORE].call(outbox_db.get, _int(request.match_info["id"], "id"))
    return _json(_message_json(row))


@routes.get("/api/v1/inbox")
async def list_inbox(request: web.Request) -> web.Response:
    _authorise(request)
    limit = min(max(_int(request.query.get("limit", "50"), "limit"), 1), 500)
    before = request.query.get("before")
    rows = await request.app[STORE].call(
        inbox_db.recent, limit, None if before is None else _int(before, "before")
    )
    return _json(
        {
            "messages": [
                {
                    "id": r["id"],
                    "from": r["sender"],
                    "text": r["text"],
                    "received_at": _iso(r["received_at"]),
                    "sent_at": r["sent_at"],
                    "parts": r["parts"],
                    "partial": bool(r["partial"]),
                }
                for r in rows
            ]
        }
    )


@routes.post("/api/v1/ussd")
async def ussd(request: web.Request) -> web.Response:
    _authorise(request)
    body = await _body(request)
    code = body.get("code")
    if not isinstance(code, str) or not code.startswith("*") or not code.endswith("#"):
        raise InvalidRequest("Mã USSD phải có dạng *101# (code like *101#)", field="code")
    try:
        answer = await request.app[HARDWARE].modem.ussd(code)
    except ModemError as e:
        raise ModemError(f"USSD {code}: {e.message}") from e
    return _json({"code": code, "answer": answer})


def setup(app: web.Application) -> None:
    app.add_routes(routes)
