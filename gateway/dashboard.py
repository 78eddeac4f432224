"""The console's first page: modem, outbox, loudspeakers, open alerts and questions, at a glance."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from broadcasts import people
from broadcasts.keys import ANNOUNCER, BROADCASTS
from gateway.config import Config
from gateway.core.keys import CLOCK, STORE
from gateway.residents.keys import RESIDENTS
from gateway.sms.keys import CLOCK_TRUST, CREDIT, OUTBOX, TRANSPORT
from gateway.web import pages
from gateway.web.keys import CONSOLE
from station.keys import STATION

routes = web.RouteTableDef()


async def _credit(request: web.Request, modem: str | None = None) -> dict[str, Any] | None:
    credit = request.app[CREDIT]
    found = await credit.latest(modem)
    if found is None or found["amount"] is None:
        return None
    return {
        "amount": f"{found['amount']:,}".replace(",", "."),
        "low": found["amount"] < credit.config.warn_below,
        "when": pages.when(request, found["at"]),
    }


def setup(app: web.Application, config: Config) -> None:
    app.add_routes(routes)


@routes.get("/")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    user = await pages.user(request)
    app = request.app
    announcer = app[ANNOUNCER]
    midnight = datetime.fromtimestamp(app[CLOCK](), app[CONSOLE].tz).replace(hour=0, minute=0, second=0, microsecond=0)
    if user.is_head and user.hamlet_id is not None:
        # their hamlet only: nothing of the commune's they cannot open, no other hamlet's numbers
        plays = await announcer.upcoming_plays(50)
        return {
            "head": await app[STORE].call(people.hamlet_overview, user.hamlet_id, midnight.timestamp()),
            "modem": app[TRANSPORT].info,
            "upcoming": [
                {"when": pages.when(request, a["next_play_at"]), "title": a["text"] or "(ghi âm)"}
                for a in plays
                if not a["zones"] or user.hamlet in a["zones"]
            ][:5],
            "clock": app[CLOCK_TRUST].status(),
        }
    outbox = app[OUTBOX]
    counts = await outbox.counts()
    session = await get_session(request)
    failures = await outbox.recent_failures(5)
    names = await app[BROADCASTS].names_for([f["recipient"] for f in failures])
    for f in failures:
        f["name"] = names.get(f["recipient"], "")
    return {
        "modem": app[TRANSPORT].info,
        "transports": await outbox.transports(midnight.timestamp()),
        "sim_credit": {name: await _credit(request, name) for name in app[CREDIT].sims},
        "outbox": {"queued": counts["queued"] + counts["sending"], "failed": counts["failed"]},
        "sent_today": await outbox.sent_since(midnight.timestamp()),
        "failures": failures,
        "open_alerts": await app[BROADCASTS].open_alerts(),
        "open_questions": await app[RESIDENTS].open_questions(),
        "upcoming": [
            {"when": pages.when(request, a["next_play_at"]), "title": a["text"] or "(ghi âm)"}
            for a in await announcer.upcoming_plays(5)
        ],
        "plays": [
            {"when": pages.when(request, p["started_at"] or p["planned_at"]), "result": p["result"]}
            for p in await announcer.broadcast_log(5)
        ],
        "balance": session.pop("balance", None),
        "credit": await _credit(request),
        "usage": await app[CREDIT].usage(app[CONSOLE].tz),
        "clock": app[CLOCK_TRUST].status(),
        "store_problem": app[STORE].problem,
        "space_problem": app[STORE].space_problem(),
        # the station's outputs and the IP receivers listening now (station/templates/station_outputs.html)
        "station": {"outputs": app[STATION].outputs(), "receivers": await app[STATION].receivers()},
        "reply_budget": outbox.reply_budget_problem(),
    }
