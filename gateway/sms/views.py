"""The SMS path over HTTP: /healthz, messages and inbox API, a USSD code on the modem, the balance."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp_session import get_session

from gateway.core.errors import InvalidRequest, LoaError, ModemError
from gateway.core.keys import STORE
from gateway.sms import queue as outbox_db
from gateway.sms.at import grammar
from gateway.sms.keys import CLOCK_TRUST, CREDIT, INBOX, OUTBOX, TRANSPORT
from gateway.web import pages
from gateway.web.http import authorise, int_param, iso, json_response, read_json

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    app.add_routes(routes)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    info = request.app[TRANSPORT].info
    counts = await request.app[OUTBOX].counts()
    problem = request.app[STORE].problem or request.app[STORE].space_problem()
    overdue = info.overdue
    registered = info.registration in (None, "home", "roaming")
    clock = request.app[CLOCK_TRUST].status()
    channels = request.app[OUTBOX].channels
    all_up = all(c.transport.info.connected for c in channels)
    healthy = info.connected and all_up and problem is None and overdue is None and registered and clock.trusted
    return json_response(
        {
            "status": "ok" if healthy else "degraded",
            "store": {"writable": problem is None, "problem": problem},
            "credit": await _credit(request),
            "clock": {
                "trusted": clock.trusted,
                "reason": clock.reason,
                "network_offset_s": None if clock.offset is None else round(clock.offset, 1),
            },
            "modem": {
                "connected": info.connected,
                "emulated": info.emulated,
                "signal": info.signal,
                "signal_dbm": info.signal_dbm,
                "operator": info.operator,
                "manufacturer": info.manufacturer,
                "model": info.model,
                "last_error": info.last_error,
                "overdue": None if overdue is None else {"exchange": info.busy_with, "seconds": round(overdue, 1)},
                "sim": info.sim,
                "registration": info.registration,
                # per domain (cs, ps, eps, 5gs) and the serving cell's radio: an LTE module on an
                # LTE-only network is "cs": "not registered" and "eps": "home", and sends
                "domains": info.domains,
                "access": info.access,
                "rsrp_dbm": info.rsrp,
                "rsrq_db": info.rsrq,
                "generation": info.generation,
                "coverage": info.coverage,
                "slow_network": info.slow_network,
                "memories": info.memories,
                "cannot": info.cannot,
            },
            # every transport of the pool (the modem above is the first): a dead one makes it degraded
            "transports": [
                {
                    "name": c.name,
                    "kind": "smpp" if c.smpp else "modem",
                    "connected": c.transport.info.connected,
                    "carrier": c.carrier or None,
                    "signal": c.transport.info.signal,
                    "registration": c.transport.info.registration,
                    "access": c.transport.info.access,
                    "coverage": c.transport.info.coverage,
                    "slow_network": c.transport.info.slow_network,
                    "last_error": c.transport.info.last_error,
                }
                for c in channels
            ],
            "outbox": {
                "queued": counts["queued"] + counts["sending"],
                "sent": counts["sent"],
                "delivered": counts["delivered"],
                "failed": counts["failed"],
            },
        }
    )


async def _credit(request: web.Request) -> dict[str, Any] | None:
    credit = request.app[CREDIT]
    found = await credit.latest()
    if found is None:
        return None
    amount = found["amount"]
    low = isinstance(amount, int) and amount < credit.config.warn_below
    return {"amount": amount, "low": low, "checked_at": iso(found["at"]), "answer": found["answer"],
            "error": found["error"] or None}  # fmt: skip


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
    row = await request.app[OUTBOX].get(int_param(request.match_info["id"], "id"))
    return json_response(_message_json(row))


@routes.get("/api/v1/inbox")
async def list_inbox(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    limit = min(max(int_param(request.query.get("limit", "50"), "limit"), 1), 500)
    before = request.query.get("before")
    rows = await request.app[INBOX].recent(limit, None if before is None else int_param(before, "before"))
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
    grammar.value("ussd", code)  # digits, * and # only: nothing else may reach the modem's line
    try:
        answer = await request.app[TRANSPORT].ussd(code)
    except ModemError as e:
        raise ModemError(f"USSD {code}: {e.message}") from e
    return json_response({"code": code, "answer": answer})


@routes.post("/balance")
async def balance(request: web.Request) -> web.StreamResponse:
    """The console's "Số dư" button: the SIM's balance by USSD, shown on the dashboard."""
    user = await pages.user(request, "admin", "official")
    await pages.form(request)
    session = await get_session(request)
    try:
        session["balance"] = await request.app[TRANSPORT].ussd("*101#")
    except LoaError as e:
        await pages.flash(request, f"Không xem được số dư: {e.message}", "error")
    await pages.audit(request, user, "xem số dư SIM (USSD *101#)")
    raise web.HTTPSeeOther("/")
