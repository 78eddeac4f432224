"""The JSON API of what goes to many: messages, contacts, hamlets, groups, reminders, alerts,
recordings and announcements; each step one call of the service."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from broadcasts.keys import ANNOUNCER, BROADCASTS
from gateway.core.errors import InvalidRequest
from gateway.web.http import authorise, authorise_official, int_param, json_response, read_json

routes = web.RouteTableDef()
MAX_CSV = 5 * 1024 * 1024
MAX_CLIP = 20 * 1024 * 1024


@routes.post("/api/v1/messages")
async def send_messages(request: web.Request) -> web.Response:
    user = await authorise(request)
    sent = await request.app[BROADCASTS].send_text(user, await read_json(request))
    return json_response(sent, status=202)


@routes.get("/api/v1/contacts")
async def list_contacts(request: web.Request) -> web.Response:
    user = await authorise(request)
    return json_response({"contacts": await request.app[BROADCASTS].contacts(user)})


@routes.post("/api/v1/contacts")
async def add_contact(request: web.Request) -> web.Response:
    await authorise_official(request)
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].add_contact(body), status=201)


@routes.put("/api/v1/contacts/{id}")
async def update_contact(request: web.Request) -> web.Response:
    await authorise_official(request)
    body = await read_json(request)
    contact_id = int_param(request.match_info["id"], "id")
    return json_response(await request.app[BROADCASTS].update_contact(contact_id, body))


@routes.delete("/api/v1/contacts/{id}")
async def delete_contact(request: web.Request) -> web.Response:
    await authorise_official(request)
    await request.app[BROADCASTS].delete_contact(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.post("/api/v1/contacts/import")
async def import_contacts(request: web.Request) -> web.Response:
    await authorise_official(request)
    data = await request.read()
    if len(data) > MAX_CSV:
        raise InvalidRequest("Tệp quá lớn (at most 5 MB)", field="file")
    report = await request.app[BROADCASTS].import_contacts(data)
    return json_response(asdict(report))


@routes.get("/api/v1/hamlets/{name}")
async def hamlet_people(request: web.Request) -> web.Response:
    user = await authorise(request)
    found = await request.app[BROADCASTS].hamlet_people(user, request.match_info["name"])
    return json_response({"people": found})


@routes.post("/api/v1/hamlets")
async def add_hamlet(request: web.Request) -> web.Response:
    await authorise_official(request)
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].add_hamlet(str(body.get("name", ""))), status=201)


@routes.get("/api/v1/groups")
async def list_groups(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response({"groups": await request.app[BROADCASTS].groups()})


@routes.post("/api/v1/groups")
async def save_group(request: web.Request) -> web.Response:
    await authorise_official(request)
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].save_group(body), status=201)


@routes.post("/api/v1/reminders")
async def create_reminder(request: web.Request) -> web.Response:
    user = await authorise(request)
    body = await read_json(request)
    b = request.app[BROADCASTS]
    await b.check_target(user, body.get("to"))
    preview = await b.preview(body)
    if body.get("dry_run"):
        return json_response(preview)
    created = await b.create_reminder(body, by=user)
    created.pop("run", None)
    return json_response(created | {"preview": preview}, status=201)


@routes.get("/api/v1/reminders")
async def list_reminders(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response({"reminders": await request.app[BROADCASTS].reminders()})


@routes.delete("/api/v1/reminders/{id}")
async def cancel_reminder(request: web.Request) -> web.Response:
    await authorise_official(request)
    await request.app[BROADCASTS].cancel_reminder(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.post("/api/v1/alerts")
async def create_alert(request: web.Request) -> web.Response:
    await authorise_official(request)
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].create_alert(body), status=201)


@routes.get("/api/v1/alerts/{id}")
async def alert_board(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response(await request.app[BROADCASTS].board(int_param(request.match_info["id"], "id")))


@routes.post("/api/v1/clips")
async def upload_clip(request: web.Request) -> web.Response:
    """A recording (e.g. a hamlet head's, in H'Mông or Dao) as the body, any format ffmpeg reads."""
    await authorise_official(request)
    data = await request.read()
    if not data:
        raise InvalidRequest("Tệp ghi âm trống", field="clip")
    if len(data) > MAX_CLIP:
        raise InvalidRequest("Tệp ghi âm quá lớn (at most 20 MB)", field="clip")
    return json_response({"clip": await request.app[ANNOUNCER].store_clip(data)}, status=201)


@routes.post("/api/v1/announcements")
async def create_announcement(request: web.Request) -> web.Response:
    user = await authorise(request)
    body = await read_json(request)
    a = request.app[ANNOUNCER]
    created = await a.create(body, by=user)
    extra = {"preview": f"/api/v1/audio/{created['audio_key']}.mp3", "plan": a.describe(created)}
    return json_response(created | extra, status=201)


@routes.get("/api/v1/announcements")
async def list_announcements(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response({"announcements": await request.app[ANNOUNCER].planned()})


@routes.post("/api/v1/announcements/{id}/approve")
async def approve_announcement(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response(await request.app[ANNOUNCER].approve_now(int_param(request.match_info["id"], "id")))


@routes.post("/api/v1/announcements/{id}/move")
async def move_announcement(request: web.Request) -> web.Response:
    """An ưu tiên item up or down in the officials' order: {"direction": "up" | "down"}."""
    await authorise_official(request)
    body = await read_json(request)
    direction = body.get("direction") if isinstance(body, dict) else None
    order = await request.app[ANNOUNCER].move(int_param(request.match_info["id"], "id"), str(direction)[:8])
    return json_response({"order": order})


@routes.post("/api/v1/announcements/{id}/cancel")
async def cancel_announcement(request: web.Request) -> web.Response:
    await authorise_official(request)
    await request.app[ANNOUNCER].cancel_announcement(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.get("/api/v1/broadcasts")
async def broadcast_log(request: web.Request) -> web.Response:
    await authorise_official(request)
    limit = min(max(int_param(request.query.get("limit", "100"), "limit"), 1), 1000)
    return json_response({"log": await request.app[ANNOUNCER].broadcast_log(limit)})


@routes.get(r"/api/v1/audio/{key:[0-9a-f]{24}}.{fmt:mp3|ogg}")
async def audio_preview(request: web.Request) -> web.FileResponse:
    await authorise(request)  # any role: it only plays a sound already made
    return web.FileResponse(await request.app[ANNOUNCER].preview(request.match_info["key"], request.match_info["fmt"]))
