"""HTTP views for contacts, hamlets, groups, reminders and alerts: thin, over broadcasts.service."""

from __future__ import annotations

from dataclasses import asdict

from aiohttp import web

from broadcasts import people
from gateway.errors import InvalidRequest
from gateway.keys import ANNOUNCER, BROADCASTS, STORE
from gateway.web.accounts import Forbidden
from gateway.web.http import authorise, int_param, json_response, read_json

routes = web.RouteTableDef()
MAX_CSV = 5 * 1024 * 1024
MAX_CLIP = 20 * 1024 * 1024


@routes.get("/api/v1/contacts")
async def list_contacts(request: web.Request) -> web.Response:
    user = await authorise(request)
    contacts = await request.app[STORE].call(people.list_contacts)
    if user.is_head:
        contacts = [c for c in contacts if c["hamlet"] == user.hamlet]
    return json_response({"contacts": contacts})


@routes.post("/api/v1/contacts")
async def add_contact(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    now = request.app[BROADCASTS].clock()
    return json_response(await request.app[STORE].call(people.add_contact, body, now), status=201)


@routes.put("/api/v1/contacts/{id}")
async def update_contact(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    contact_id = int_param(request.match_info["id"], "id")
    now = request.app[BROADCASTS].clock()

    def update(db: object) -> dict[str, object]:
        row = db.execute("select number from contacts where id=?", [contact_id]).fetchone()  # type: ignore[attr-defined]
        if row is None:
            raise InvalidRequest(f"Không có liên hệ số {contact_id}", id=contact_id)
        if body.get("number") and people.valid_number(str(body["number"]))[0] != row[0]:
            raise InvalidRequest("Đổi số: xoá liên hệ cũ rồi thêm mới (number cannot change)", field="number")
        return people.add_contact(db, body | {"number": row[0]}, now)  # type: ignore[arg-type]

    return json_response(await request.app[STORE].call(update))


@routes.delete("/api/v1/contacts/{id}")
async def delete_contact(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    await request.app[STORE].call(people.delete_contact, int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.post("/api/v1/contacts/import")
async def import_contacts(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    data = await request.read()
    if len(data) > MAX_CSV:
        raise InvalidRequest("Tệp quá lớn (at most 5 MB)", field="file")
    now = request.app[BROADCASTS].clock()
    report = await request.app[STORE].call(people.import_csv, data, now)
    return json_response(asdict(report))


@routes.get("/api/v1/hamlets/{name}")
async def hamlet_people(request: web.Request) -> web.Response:
    user = await authorise(request)
    target = {"hamlets": [request.match_info["name"]]}
    await request.app[STORE].call(people.check_own_target, user, target)
    found = await request.app[STORE].call(people.resolve, target)
    return json_response({"people": [asdict(p) for p in found]})


@routes.post("/api/v1/hamlets")
async def add_hamlet(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    return json_response(await request.app[STORE].call(people.add_hamlet, str(body.get("name", ""))), status=201)


@routes.get("/api/v1/groups")
async def list_groups(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    return json_response({"groups": await request.app[STORE].call(people.list_groups)})


@routes.post("/api/v1/groups")
async def save_group(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    return json_response(await request.app[STORE].call(people.save_group, body), status=201)


@routes.post("/api/v1/reminders")
async def create_reminder(request: web.Request) -> web.Response:
    user = await authorise(request)
    body = await read_json(request)
    b = request.app[BROADCASTS]
    await request.app[STORE].call(people.check_own_target, user, body.get("to"))
    now = b.clock()
    preview = await request.app[STORE].call(b.preview, body, now)
    if body.get("dry_run"):
        return json_response(preview)
    created = await request.app[STORE].call(b.create_reminder, body, now)
    await b.tick()
    return json_response(created | {"preview": preview}, status=201)


@routes.get("/api/v1/reminders")
async def list_reminders(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    b = request.app[BROADCASTS]
    return json_response({"reminders": await request.app[STORE].call(b.list_reminders)})


@routes.delete("/api/v1/reminders/{id}")
async def cancel_reminder(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    b = request.app[BROADCASTS]
    await request.app[STORE].call(b.cancel_reminder, int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.post("/api/v1/alerts")
async def create_alert(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    b = request.app[BROADCASTS]
    created = await request.app[STORE].call(b.create_alert, body, b.clock())
    b.outbox.wake()
    if body.get("loudspeaker"):
        # the same words, khẩn cấp, on the loudspeakers of the hamlets the alert names (all when none)
        announcer = request.app[ANNOUNCER]
        zones = body.get("to", {}).get("hamlets", [])
        made = await announcer.create({"text": body["text"], "priority": "khan_cap", "zones": zones})
        await announcer.approve_now(made["id"])
        created["announcement"] = made["id"]
    return json_response(created, status=201)


@routes.get("/api/v1/alerts/{id}")
async def alert_board(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    b = request.app[BROADCASTS]
    return json_response(await request.app[STORE].call(b.board, int_param(request.match_info["id"], "id")))


@routes.post("/api/v1/clips")
async def upload_clip(request: web.Request) -> web.Response:
    """A recording (e.g. a hamlet head's, in H'Mông or Dao) as the body, any format ffmpeg reads."""
    await authorise(request, "admin", "official")
    data = await request.read()
    if not data:
        raise InvalidRequest("Tệp ghi âm trống", field="clip")
    if len(data) > MAX_CLIP:
        raise InvalidRequest("Tệp ghi âm quá lớn (at most 20 MB)", field="clip")
    return json_response({"clip": await request.app[ANNOUNCER].renderer.store_clip(data)}, status=201)


@routes.post("/api/v1/announcements")
async def create_announcement(request: web.Request) -> web.Response:
    user = await authorise(request)
    body = await read_json(request)
    if user.is_head and body.get("zones") != [user.hamlet]:
        raise Forbidden(f"Trưởng thôn chỉ được thông báo cho thôn {user.hamlet}", field="zones")
    created = await request.app[ANNOUNCER].create(body)
    return json_response(created | {"preview": f"/api/v1/audio/{created['audio_key']}.mp3"}, status=201)


@routes.get("/api/v1/announcements")
async def list_announcements(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    a = request.app[ANNOUNCER]
    return json_response({"announcements": await request.app[STORE].call(a.all)})


@routes.post("/api/v1/announcements/{id}/approve")
async def approve_announcement(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    a = request.app[ANNOUNCER]
    return json_response(await a.approve_now(int_param(request.match_info["id"], "id")))


@routes.post("/api/v1/announcements/{id}/cancel")
async def cancel_announcement(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    a = request.app[ANNOUNCER]
    await request.app[STORE].call(a.cancel, int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.get("/api/v1/broadcasts")
async def broadcast_log(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    a = request.app[ANNOUNCER]
    limit = min(max(int_param(request.query.get("limit", "100"), "limit"), 1), 1000)
    return json_response({"log": await request.app[STORE].call(a.log, limit)})


@routes.get(r"/api/v1/audio/{key:[0-9a-f]{24}}.{fmt:mp3|ogg}")
async def audio_preview(request: web.Request) -> web.FileResponse:
    await authorise(request)  # any role: it only plays a sound already made
    path = await request.app[ANNOUNCER].renderer.preview(request.match_info["key"], request.match_info["fmt"])
    return web.FileResponse(path)
