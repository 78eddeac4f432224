"""The JSON API and /healthz: thin handlers over the outbox, inbox and modem."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from broadcasts import people
from gateway.errors import InvalidRequest, ModemError
from gateway.keys import CONFIG, HARDWARE, OUTBOX, STORE
from gateway.sms import inbox as inbox_db
from gateway.sms import numbers
from gateway.sms import outbox as outbox_db
from gateway.sms.encoding import POLICIES, prepare
from gateway.web.http import authorise, int_param, iso, json_response, read_json

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    info = request.app[HARDWARE].modem.info
    counts = await request.app[STORE].call(outbox_db.counts)
    return json_response(
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
    user = await authorise(request)
    body = await read_json(request)
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
        raise InvalidRequest(f"priority phải là một trong {', '.join(outbox_db.PRIORITIES)}", field="priority")
    policy = body.get("encoding", request.app[CONFIG].sms.encoding)
    if policy not in POLICIES:
        raise InvalidRequest(f"encoding phải là một trong {', '.join(POLICIES)}", field="encoding")
    recipients = list(dict.fromkeys(numbers.normalise(n) for n in to))
    if user.is_head:
        await request.app[STORE].call(people.check_own_numbers, user, recipients)
    prepared = prepare(text, policy)
    ids = await request.app[OUTBOX].enqueue(recipients, prepared, priority=priority, source="api")
    return json_response(
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
        "created_at": iso(row["created_at"]),
        "sent_at": iso(row["sent_at"]),
        "delivered_at": iso(row["delivered_at"]),
        "failed_at": iso(row["failed_at"]),
        "parts": [
            {
                "part": p["part"],
                "reference": p["reference"],
                "status": p["status"],
                "sent_at": iso(p["sent_at"]),
                "report_at": iso(p["report_at"]),
            }
            for p in row["parts"]
        ],
    }


@routes.get("/api/v1/messages/{id}")
async def get_message(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    row = await request.app[STORE].call(outbox_db.get, int_param(request.match_info["id"], "id"))
    return json_response(_message_json(row))


@routes.get("/api/v1/inbox")
async def list_inbox(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    limit = min(max(int_param(request.query.get("limit", "50"), "limit"), 1), 500)
    before = request.query.get("before")
    rows = await request.app[STORE].call(
        inbox_db.recent, limit, None if before is None else int_param(before, "before")
    )
    return json_response(
        {
            "messages": [
                {
                    "id": r["id"],
                    "from": r["sender"],
                    "text": r["text"],
                    "received_at": iso(r["received_at"]),
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
    await authorise(request, "admin", "official")
    body = await read_json(request)
    code = body.get("code")
    if not isinstance(code, str) or not code.startswith("*") or not code.endswith("#"):
        raise InvalidRequest("Mã USSD phải có dạng *101# (code like *101#)", field="code")
    try:
        answer = await request.app[HARDWARE].modem.ussd(code)
    except ModemError as e:
        raise ModemError(f"USSD {code}: {e.message}") from e
    return json_response({"code": code, "answer": answer})
