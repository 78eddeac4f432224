"""Warnings over HTTP: CAP pushed in, the JSON API, the officials' phone page with its one stop button,
the hamlets' points, and the commune's own warnings out as CAP 1.2 and an Atom feed."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from bulletins import cap
from bulletins.area import CADENCES
from bulletins.keys import BULLETINS
from bulletins.service import HAZARDS
from gateway.core.errors import InvalidRequest
from gateway.web import pages
from gateway.web.http import OFFICIALS, authorise, authorise_official, int_param, iso, json_response, read_json

routes = web.RouteTableDef()
CAP_TYPE = "application/cap+xml"
STATUS_VI = {"pending": "Chờ cán bộ duyệt", "active": "Đang chạy", "done": "Đã phát xong", "stopped": "Đã dừng",
             "expired": "Hết hiệu lực", "ignored": "Không áp dụng cho xã"}  # fmt: skip
ORIGIN_VI = {"cap": "CAP gửi tới", "feed": "nguồn tin CAP", "form": "nhập tay"}


def _api(b: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in b.items() if k != "xml"}
    for k in ("issued_at", "expires_at", "hold_until", "first_play_at", "next_play_at", "created_at", "stopped_at"):
        if k in out:
            out[k] = iso(out[k])
    return out


@routes.post("/api/v1/cap")
async def post_cap(request: web.Request) -> web.Response:
    """A CAP 1.2 document in the body (the province's composer, a relay of a national feed)."""
    user = await authorise_official(request)
    data = await request.read()
    result = await request.app[BULLETINS].receive(data, origin="cap")
    del user
    return json_response(result, status=200 if result.get("duplicate") else 202)


@routes.get("/api/v1/bulletins")
async def list_bulletins(request: web.Request) -> web.Response:
    await authorise(request)
    found = await request.app[BULLETINS].recent(50)
    return json_response({"bulletins": [_api(b) for b in found]})


@routes.get("/api/v1/bulletins/{id}")
async def get_bulletin(request: web.Request) -> web.Response:
    await authorise(request)
    found = await request.app[BULLETINS].board(int_param(request.match_info["id"], "id"))
    return json_response(_api(found))


@routes.post("/api/v1/bulletins")
async def post_bulletin(request: web.Request) -> web.Response:
    """A bulletin received by fax or Zalo, typed: it goes out at once."""
    user = await authorise_official(request)
    result = await request.app[BULLETINS].manual(await read_json(request), user.username)
    return json_response(result, status=201)


@routes.post("/api/v1/bulletins/stop")
async def stop_everything(request: web.Request) -> web.Response:
    user = await authorise_official(request)
    return json_response({"stopped": await request.app[BULLETINS].stop_all(user.username)})


@routes.post("/api/v1/bulletins/{id}/{action:stop|release}")
async def bulletin_action(request: web.Request) -> web.Response:
    user = await authorise_official(request)
    bulletin_id = int_param(request.match_info["id"], "id")
    service = request.app[BULLETINS]
    if request.match_info["action"] == "stop":
        return json_response({"id": bulletin_id, "stopped": await service.stop(bulletin_id, user.username)})
    return json_response({"id": bulletin_id} | await service.release(bulletin_id, user.username))


@routes.put("/api/v1/bulletins/points/{id}")
async def put_point(request: web.Request) -> web.Response:
    """A hamlet's point (lat, lon in degrees; both null to forget it)."""
    await authorise_official(request)
    body = await read_json(request)
    hamlet = int_param(request.match_info["id"], "id")
    lat, lon = _degrees(body.get("lat")), _degrees(body.get("lon"))
    await request.app[BULLETINS].set_point(hamlet, lat, lon)
    return json_response({"id": hamlet, "lat": lat, "lon": lon})


def _degrees(value: Any) -> float | None:
    if value in (None, ""):
        return None
    try:
        number = float(str(value).replace(",", ".")[:20]) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number != number:
        raise InvalidRequest("Toạ độ phải là số độ thập phân (ví dụ 22.3856)", field="lat")
    return number


# ---- out as CAP: public, so the province (and anyone) sees what the commune said and when ----


@routes.get("/cap/feed.atom")
async def atom_feed(request: web.Request) -> web.Response:
    service = request.app[BULLETINS]
    origin = str(request.url.origin())
    own = sorted([*await service.publish.own_entries(origin), *await service.publish.alert_entries(origin)],
                 key=lambda e: e.updated, reverse=True)  # fmt: skip
    updated = max((e.updated for e in own), default=service.clock())
    body = cap.atom(f"{request.url.origin()}/cap/feed.atom", f"Cảnh báo thiên tai – {service.commune_name}",
                    f"{request.url.origin()}/cap/feed.atom", own, updated)  # fmt: skip
    return web.Response(body=body, content_type="application/atom+xml", charset="utf-8")


@routes.get("/cap/{id:\\d{1,9}}.xml")
async def cap_document(request: web.Request) -> web.Response:
    body = await request.app[BULLETINS].publish.as_cap(int(request.match_info["id"]))
    return web.Response(body=body, content_type=CAP_TYPE, charset="utf-8")


@routes.get("/cap/alerts/{id:\\d{1,9}}.xml")
async def cap_alert(request: web.Request) -> web.Response:
    body = await request.app[BULLETINS].publish.alert_as_cap(int(request.match_info["id"]))
    return web.Response(body=body, content_type=CAP_TYPE, charset="utf-8")


@routes.get("/cap/{id:\\d{1,9}}/cancel.xml")
async def cap_cancel(request: web.Request) -> web.Response:
    body = await request.app[BULLETINS].publish.as_cap(int(request.match_info["id"]), cancel=True)
    return web.Response(body=body, content_type=CAP_TYPE, charset="utf-8")


# ---- the officials' phone page ----


@routes.get("/bulletins")
@aiohttp_jinja2.template("bulletins.html")
async def bulletins_page(request: web.Request) -> dict[str, Any]:
    user = await pages.user(request)
    service = request.app[BULLETINS]
    found = await service.recent(30)
    for b in found:
        for k in ("issued_at", "expires_at", "hold_until", "stopped_at"):
            b[k + "_text"] = pages.when(request, b[k])
        for p in b["play_log"]:
            p["when"] = pages.when(request, p["at"])
        b["status_text"] = STATUS_VI.get(b["status"], b["status"])
        b["origin_text"] = ORIGIN_VI.get(b["origin"], b["origin"])
    return {
        "bulletins": found,
        "live": [b for b in found if b["status"] in ("pending", "active")],
        "official": user.role in OFFICIALS,
        "hamlets": await service.points(),
        "hazards": HAZARDS,
        "cadences": CADENCES,
    }


@routes.post("/bulletins")
async def bulletin_form(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    service = request.app[BULLETINS]

    async def work() -> pages.Done:
        raw = {k: str(form.get(k, "")) for k in ("issuer", "issued_at", "hazard", "headline", "text", "instruction",
                                                  "expires_at", "level", "cadence")}  # fmt: skip
        made = await service.manual(raw | {"hamlets": form.getall("hamlets", [])}, user.username)
        heads = "trưởng thôn được báo" if made["alert"] else "không có trưởng thôn nào trong danh bạ để báo"
        note = f"Đã phát cảnh báo số {made['id']}: {made['sms']} tin nhắn, loa, {heads}."
        return pages.Done(note, "phát cảnh báo thiên tai", {"id": made["id"]})

    await pages.act(request, user, "/bulletins", work)


@routes.post("/bulletins/stop")
async def stop_all_form(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    await pages.form(request)
    service = request.app[BULLETINS]

    async def work() -> pages.Done:
        stopped = await service.stop_all(user.username)
        note = f"Đã dừng {len(stopped)} cảnh báo: loa, phát lại, tin nhắn chưa gửi." if stopped else (
            "Không có cảnh báo nào đang chạy.")  # fmt: skip
        return pages.Done(note, "dừng mọi cảnh báo", {"ids": stopped})

    await pages.act(request, user, "/bulletins", work)


@routes.post("/bulletins/{id:\\d{1,9}}/{action:stop|release}")
async def action_form(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    await pages.form(request)
    bulletin_id = int(request.match_info["id"])
    service = request.app[BULLETINS]

    async def work() -> pages.Done:
        if request.match_info["action"] == "stop":
            done = await service.stop(bulletin_id, user.username)
            note = f"Đã dừng cảnh báo {bulletin_id}." if done else f"Cảnh báo {bulletin_id} đã dừng trước đó."
            return pages.Done(note, "dừng cảnh báo", {"id": bulletin_id})
        await service.release(bulletin_id, user.username)
        return pages.Done(f"Đã phát cảnh báo {bulletin_id}.", "phát cảnh báo", {"id": bulletin_id})

    await pages.act(request, user, f"/bulletins#b-{bulletin_id}", work)


@routes.post("/bulletins/points")
async def points_form(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    service = request.app[BULLETINS]

    async def work() -> pages.Done:
        hamlet = int_param(str(form.get("hamlet", "")), "hamlet")
        lat, lon = _degrees(form.get("lat")), _degrees(form.get("lon"))
        await service.set_point(hamlet, lat, lon)
        return pages.Done("Đã lưu toạ độ thôn.", "toạ độ thôn", {"hamlet": hamlet, "lat": lat, "lon": lon})

    await pages.act(request, user, "/bulletins#points", work)
