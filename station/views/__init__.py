"""The station's API and console: outputs and receivers, the report as CSV or JSON by day or month."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gateway.web import pages
from gateway.web.http import authorise, authorise_official, int_param, json_response, read_json
from station.keys import STATION

routes = web.RouteTableDef()


def _period(request: web.Request) -> tuple[str, str]:
    day, month = request.query.get("day", "")[:10], request.query.get("month", "")[:7]
    return day, month


@routes.get("/api/v1/station")
async def station_status(request: web.Request) -> web.Response:
    await authorise(request)
    s = request.app[STATION]
    return json_response({"outputs": s.outputs(), "receivers": await s.receivers()})


@routes.get("/api/v1/station/report")
async def station_report(request: web.Request) -> web.StreamResponse:
    await authorise(request)
    return await _report(request)


async def _report(request: web.Request) -> web.StreamResponse:
    s = request.app[STATION]
    if request.query.get("format", "json") == "csv":
        label, text = await s.report_csv(*_period(request))
        return web.Response(
            body=text.encode("utf-8-sig"),  # a BOM: spreadsheet programs then read the Vietnamese right
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="bao-cao-dai-{label}.csv"'},
        )
    return json_response(await s.report(*_period(request)))


@routes.get("/api/v1/station/relays")
async def list_relays(request: web.Request) -> web.Response:
    await authorise(request)
    return json_response({"relays": await request.app[STATION].relays.all()})


@routes.post("/api/v1/station/relays")
async def add_relay(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response(await request.app[STATION].relays.add(await read_json(request)), status=201)


@routes.delete("/api/v1/station/relays/{id}")
async def delete_relay(request: web.Request) -> web.Response:
    await authorise_official(request)
    await request.app[STATION].relays.delete(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.get("/station")
@aiohttp_jinja2.template("station.html")
async def station_page(request: web.Request) -> dict[str, Any]:
    await pages.official(request)
    s = request.app[STATION]
    label = s.period(*_period(request))[2]
    found = await s.report(*_period(request))
    for row in found["plays"]:
        row["started"] = s.when(row["started_at"])
    for o in found["outputs"]:
        o["since_text"] = s.when(o["since"])
    relays = await s.relays.all()
    for r in relays:
        r["next"] = s.when(r["next_at"])
    return found | {"label": label, "today": s.period()[2], "relays": relays}


@routes.get("/station/report")
async def station_report_page(request: web.Request) -> web.StreamResponse:
    await pages.official(request)
    return await _report(request)
