"""What goes to many, over HTTP: contacts, hamlets, groups, messages, reminders, alerts and
announcements; the JSON API and the console pages side by side, thin over the services."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from broadcasts import people
from broadcasts.announcements import WEEKDAY_NAMES
from broadcasts.keys import ANNOUNCER, BROADCASTS
from broadcasts.service import Broadcasts
from gateway.core import phone
from gateway.core.errors import Forbidden, InvalidRequest, LoaError
from gateway.core.keys import CLOCK, STORE
from gateway.core.principal import User
from gateway.core.text import fold
from gateway.sms import queue as outbox_db
from gateway.sms.encoding import POLICIES, prepare
from gateway.web import pages
from gateway.web.http import authorise, int_param, json_response, read_json
from gateway.web.keys import BIG_BODIES, CONSOLE

routes = web.RouteTableDef()
MAX_CSV = 5 * 1024 * 1024
MAX_CLIP = 20 * 1024 * 1024
ROLE_NAMES = {"resident": "Người dân", "hamlet_head": "Trưởng thôn", "health_worker": "Y tế thôn", "official": "Cán bộ"}


def setup(app: web.Application, broadcasts: Broadcasts) -> None:
    app[BROADCASTS] = broadcasts
    app[ANNOUNCER] = broadcasts.announcer
    app.add_routes(routes)
    # the uploads' own limits (a form's other fields need a little more room than the file)
    app[BIG_BODIES].update(
        {"/api/v1/contacts/import": MAX_CSV, "/contacts/import": MAX_CSV + 65536,
         "/api/v1/clips": MAX_CLIP, "/announcements": MAX_CLIP + 65536,
         "/announcements/{id}/edit": MAX_CLIP + 65536}
    )  # fmt: skip


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
    policy = body.get("encoding", request.app[BROADCASTS].q.policy)
    if policy not in POLICIES:
        raise InvalidRequest(f"encoding phải là một trong {', '.join(POLICIES)}", field="encoding")
    recipients = list(dict.fromkeys(phone.normalise(n) for n in to))
    prepared = prepare(text, policy)
    ids, skipped = await request.app[BROADCASTS].send_to_numbers(user, recipients, prepared, priority)
    return json_response(
        {
            "ids": ids,
            "to": [n for n in recipients if n not in skipped],
            "skipped": [{"to": n, "reason": "Người này đã nhắn HUY (opted out)"} for n in skipped],
            "segments": prepared.segments,
            "encoding": prepared.encoding,
            "body": prepared.body,
            "folded": prepared.folded,
        },
        status=202,
    )


@routes.get("/api/v1/contacts")
async def list_contacts(request: web.Request) -> web.Response:
    user = await authorise(request)
    return json_response({"contacts": await request.app[BROADCASTS].contacts(user)})


@routes.post("/api/v1/contacts")
async def add_contact(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].add_contact(body), status=201)


@routes.put("/api/v1/contacts/{id}")
async def update_contact(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    contact_id = int_param(request.match_info["id"], "id")
    return json_response(await request.app[BROADCASTS].update_contact(contact_id, body))


@routes.delete("/api/v1/contacts/{id}")
async def delete_contact(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    await request.app[BROADCASTS].delete_contact(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.post("/api/v1/contacts/import")
async def import_contacts(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
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
    await authorise(request, "admin", "official")
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].add_hamlet(str(body.get("name", ""))), status=201)


@routes.get("/api/v1/groups")
async def list_groups(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    return json_response({"groups": await request.app[BROADCASTS].groups()})


@routes.post("/api/v1/groups")
async def save_group(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
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
    created = await b.create_reminder(body)
    created.pop("run", None)
    return json_response(created | {"preview": preview}, status=201)


@routes.get("/api/v1/reminders")
async def list_reminders(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    return json_response({"reminders": await request.app[BROADCASTS].reminders()})


@routes.delete("/api/v1/reminders/{id}")
async def cancel_reminder(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    await request.app[BROADCASTS].cancel_reminder(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.post("/api/v1/alerts")
async def create_alert(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    return json_response(await request.app[BROADCASTS].create_alert(body), status=201)


@routes.get("/api/v1/alerts/{id}")
async def alert_board(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    return json_response(await request.app[BROADCASTS].board(int_param(request.match_info["id"], "id")))


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
    a = request.app[ANNOUNCER]
    created = await a.create(body)
    extra = {"preview": f"/api/v1/audio/{created['audio_key']}.mp3", "plan": a.describe(created)}
    return json_response(created | extra, status=201)


@routes.get("/api/v1/announcements")
async def list_announcements(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    a = request.app[ANNOUNCER]
    return json_response({"announcements": [item | {"plan": a.describe(item)} for item in await a.announcements()]})


@routes.post("/api/v1/announcements/{id}/approve")
async def approve_announcement(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    a = request.app[ANNOUNCER]
    return json_response(await a.approve_now(int_param(request.match_info["id"], "id")))


@routes.post("/api/v1/announcements/{id}/cancel")
async def cancel_announcement(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    await request.app[ANNOUNCER].cancel_announcement(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.get("/api/v1/broadcasts")
async def broadcast_log(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    limit = min(max(int_param(request.query.get("limit", "100"), "limit"), 1), 1000)
    return json_response({"log": await request.app[ANNOUNCER].broadcast_log(limit)})


@routes.get(r"/api/v1/audio/{key:[0-9a-f]{24}}.{fmt:mp3|ogg}")
async def audio_preview(request: web.Request) -> web.FileResponse:
    await authorise(request)  # any role: it only plays a sound already made
    path = await request.app[ANNOUNCER].renderer.preview(request.match_info["key"], request.match_info["fmt"])
    return web.FileResponse(path)


# ---- console pages ----


async def _send_context(
    request: web.Request,
    user: Any,
    form: Any = None,
    errors: dict[str, str] | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    hamlets = await request.app[BROADCASTS].hamlet_names()
    if user.is_head:
        hamlets = [h for h in hamlets if h == user.hamlet]
    # a hamlet head sends to their own hamlet: it is ticked already
    chosen = form.getall("hamlets", []) if form is not None else ([user.hamlet] if user.is_head else [])
    return {
        "hamlets": hamlets,
        "roles": people.ROLES,
        "role_names": ROLE_NAMES,
        "form": {
            "text": form.get("text", "") if form is not None else "",
            "numbers": form.get("numbers", "") if form is not None else "",
            "encoding": form.get("encoding", "auto") if form is not None else "auto",
            "hamlets": chosen,
            "roles": form.getall("roles", []) if form is not None else [],
        },
        "errors": errors or {},
        "price": request.app[BROADCASTS].config.segment_price,
        "confirm": confirm,
        "batch": (await get_session(request)).pop("batch", None) if form is None else None,
    }


@routes.get("/send")
@aiohttp_jinja2.template("send.html")
async def send_page(request: web.Request) -> dict[str, Any]:
    user = await pages.user(request)
    return await _send_context(request, user)


@routes.post("/send")
async def send(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    form = await pages.form(request)
    text = str(form.get("text", "")).strip()
    target: dict[str, Any] = {}
    if form.getall("hamlets", []):
        target["hamlets"] = [str(h) for h in form.getall("hamlets")]
    if form.getall("roles", []):
        target["roles"] = [str(r) for r in form.getall("roles")]
    typed = [n.strip() for n in str(form.get("numbers", "")).replace(",", "\n").splitlines() if n.strip()]
    if typed:
        target["numbers"] = typed
    if form.get("encoding") == "gsm7":
        text = fold(text)
    errors: dict[str, str] = {}
    if not text:
        errors["text"] = "Hãy viết nội dung tin nhắn."
    if not target:
        errors["to"] = "Hãy chọn thôn, vai trò hoặc nhập số điện thoại."
    b = request.app[BROADCASTS]
    if not errors:
        try:
            await b.check_target(user, target, numbers=True)
            preview = await b.preview({"text": text, "to": target})
            if preview["recipients"] > 1 and str(form.get("confirm", "")) != _fingerprint(preview):
                # to many people: first say what it will cost, then send on a second click
                context = await _send_context(request, user, form, {}, preview | {"key": _fingerprint(preview)})
                return aiohttp_jinja2.render_template("send.html", request, context)
            created = await b.create_reminder({"text": text, "to": target})
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["to" if field in ("to", "hamlet", "group") else "text"] = e.message
        else:
            run = created.get("run", {"queued": 0})
            await pages.audit(request, user, "gửi tin nhắn", {"to": target, "text": text, "queued": run["queued"]})
            note = f"Đã xếp {run['queued']} tin vào hàng gửi."
            if run.get("deferred"):
                note += " Đang giờ nghỉ đêm: tin sẽ đi lúc sáng."
            if run.get("capped") or run.get("opted_out"):
                note += (
                    f" Bỏ qua {run.get('capped', 0)} số đã đủ tin trong ngày, {run.get('opted_out', 0)} số đã nhắn HUY."
                )
            await pages.flash(request, note)
            session = await get_session(request)
            session["batch"] = f"reminder:{created['id']}"
            raise web.HTTPSeeOther("/send")
    context = await _send_context(request, user, form, errors)
    return aiohttp_jinja2.render_template("send.html", request, context, status=400)


def _fingerprint(preview: dict[str, Any]) -> str:
    """What the sender confirmed: a change of people or length after the preview asks again."""
    return f"{preview['recipients']}-{preview['segments']}"


def _whole(text: str, default: int) -> int | str:
    """A small whole number typed in a form; anything else is passed on as typed, to be refused by name."""
    text = text.strip()
    if not text:
        return default
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else text


@routes.get("/messages")
@aiohttp_jinja2.template("messages.html")
async def messages_page(request: web.Request) -> dict[str, Any]:
    """ "Tin đã gửi": every message of a day with its status and its parts' delivery reports."""
    user = await pages.user(request)
    console = request.app[CONSOLE]
    today = datetime.fromtimestamp(request.app[CLOCK](), console.tz).date()
    raw_day = request.query.get("day", "")
    try:
        day = date.fromisoformat(raw_day) if raw_day else today
    except ValueError:
        raise InvalidRequest("Ngày phải có dạng 2026-12-07", field="day") from None
    status = request.query.get("status") or None
    if status not in (None, *outbox_db.STATUSES):
        raise InvalidRequest("Trạng thái không hợp lệ", field="status")
    batch = request.query.get("batch", "")[:40] or None
    before = request.query.get("before")
    start = datetime.combine(day, datetime.min.time(), console.tz).timestamp()
    # a batch is shown whole, whatever its day
    since, until = (0.0, float("inf")) if batch else (start, start + 86400)
    rows = await request.app[STORE].call(
        people.sent_history, since, until, status, batch, user.hamlet_id if user.is_head else None,
        int_param(before, "before") if before else None,
    )  # fmt: skip
    for r in rows:
        r["when"] = pages.when(request, r["created_at"])
    return {
        "rows": rows,
        "day": day.isoformat(),
        "today": today.isoformat(),
        "yesterday": (today - timedelta(days=1)).isoformat(),
        "status": status or "",
        "statuses": outbox_db.STATUSES,
        "batch": batch,
        "older": rows[-1]["id"] if len(rows) == people.HISTORY_PAGE else None,
    }


ANNOUNCE_KINDS = ("now", "once", "weekly", "monthly")


def _announcement_form(form: Any) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The composer's fields as an API body, the errors beside their fields, and what was typed.
    One schedule choice; a field that choice would ignore is refused rather than silently dropped."""
    typed: dict[str, Any] = {
        "text": str(form.get("text", "")),
        "repeat": str(form.get("repeat", "2")),
        "priority": str(form.get("priority", "thuong")),
        "zones": [str(z) for z in form.getall("zones", [])],
        "kind": str(form.get("kind", "now")),
        "at": str(form.get("at", "")).strip(),
        "days": [str(d) for d in form.getall("days", [])],
        "time": str(form.get("time", "")).strip() or "07:00",
        "monthday": str(form.get("monthday", "")).strip(),
        "starts_on": str(form.get("starts_on", "")).strip(),
        "ends_on": str(form.get("ends_on", "")).strip(),
    }
    body: dict[str, Any] = {"priority": typed["priority"], "repeat": _whole(typed["repeat"], 2),
                            "zones": typed["zones"], "text": typed["text"]}  # fmt: skip
    errors: dict[str, str] = {}
    kind = typed["kind"] if typed["kind"] in ANNOUNCE_KINDS else "now"
    ignored = {
        "now": [("at", "ngày giờ"), ("days", "thứ trong tuần"), ("monthday", "ngày trong tháng"),
                ("starts_on", "từ ngày"), ("ends_on", "đến ngày")],
        "once": [("days", "thứ trong tuần"), ("monthday", "ngày trong tháng"), ("starts_on", "từ ngày"),
                 ("ends_on", "đến ngày")],
        "weekly": [("at", "ngày giờ phát một lần"), ("monthday", "ngày trong tháng")],
        "monthly": [("at", "ngày giờ phát một lần"), ("days", "thứ trong tuần")],
    }[kind]  # fmt: skip
    extra = [name for field, name in ignored if typed[field]]
    if extra:
        errors["when"] = (
            f'Đã chọn "{KIND_NAMES[kind]}" nhưng có nhập {", ".join(extra)}: hãy xoá đi hoặc chọn cách phát khác.'
        )
    elif kind == "once":
        if not typed["at"]:
            errors["when"] = "Hãy chọn ngày giờ phát."
        body["when"] = {"at": typed["at"]}
    elif kind == "weekly":
        if not typed["days"]:
            errors["when"] = "Hãy chọn ít nhất một thứ trong tuần."
        body["when"] = {"weekly": {"days": typed["days"], "time": typed["time"]}}
    elif kind == "monthly":
        day = typed["monthday"]
        if not (day.isdigit() and 1 <= int(day) <= 31):
            errors["when"] = "Ngày trong tháng phải từ 1 đến 31."
        body["when"] = {"monthly": {"day": int(day) if day.isdigit() and len(day) <= 2 else 0, "time": typed["time"]}}
    if kind in ("weekly", "monthly"):
        body["starts_on"], body["ends_on"] = typed["starts_on"] or None, typed["ends_on"] or None
    typed["kind"] = kind
    return body, errors, typed


KIND_NAMES = {"now": "Ngay khi duyệt", "once": "Một lần", "weekly": "Hằng tuần", "monthly": "Hằng tháng"}
EMPTY_FORM: dict[str, Any] = {"text": "", "repeat": "2", "priority": "thuong", "zones": [], "kind": "now", "at": "",
                              "days": [], "time": "07:00", "monthday": "", "starts_on": "", "ends_on": ""}  # fmt: skip


def _typed_from(item: dict[str, Any], tz: Any) -> dict[str, Any]:
    """A saved draft back into the composer's fields, to edit it."""
    typed = EMPTY_FORM | {
        "text": item["text"] or "",
        "repeat": str(item["repeat"]),
        "priority": item["priority"],
        "zones": item["zones"],
        "starts_on": item["starts_on"] or "",
        "ends_on": item["ends_on"] or "",
    }
    when = item["when"]
    if when.get("at") is not None:
        typed |= {"kind": "once", "at": datetime.fromtimestamp(float(when["at"]), tz).strftime("%Y-%m-%dT%H:%M")}
    elif when.get("cron"):
        minute, hour, day, _, days = (str(when["cron"]).split() + ["*"] * 5)[:5]
        clock = f"{int(hour):02d}:{int(minute):02d}" if hour.isdigit() and minute.isdigit() else "07:00"
        if day.isdigit():
            typed |= {"kind": "monthly", "monthday": day, "time": clock}
        else:
            typed |= {"kind": "weekly", "days": days.split(","), "time": clock}
    return typed


async def _announcements_context(
    request: web.Request, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    a = request.app[ANNOUNCER]
    console = request.app[CONSOLE]
    items = await a.announcements()
    for item in items:
        item["next"] = pages.when(request, item["next_play_at"])
        item["plan"] = a.describe(item)
    today = datetime.fromtimestamp(request.app[CLOCK](), console.tz).date()
    raw_day = request.query.get("log_day", "")
    try:
        log_day = date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        raise InvalidRequest("Ngày phải có dạng 2026-12-07", field="log_day") from None
    log_rows = await a.broadcast_log(50, log_day)
    for row in log_rows:
        row["planned"] = pages.when(request, row["planned_at"])
        row["started"] = pages.when(request, row["started_at"])
    week: list[dict[str, Any]] = []
    for play in await a.week_plays():
        moment = datetime.fromtimestamp(play["at"], console.tz)
        label = f"{WEEKDAY_LABELS[moment.weekday()]} {moment:%d/%m}"
        if not week or week[-1]["day"] != label:
            week.append({"day": label, "plays": []})
        week[-1]["plays"].append(play | {"time": f"{moment:%H:%M}"})
    return {
        "items": items,
        "log": log_rows,
        "log_day": log_day.isoformat() if log_day else "",
        "today": today.isoformat(),
        "yesterday": (today - timedelta(days=1)).isoformat(),
        "week": week,
        "hamlets": await request.app[BROADCASTS].hamlet_names(),
        "errors": errors or {},
        "form": form or EMPTY_FORM,
        "kinds": KIND_NAMES,
        "weekdays": list(WEEKDAY_NAMES.items()),
    }


WEEKDAY_LABELS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"]


@routes.get("/announcements")
@aiohttp_jinja2.template("announcements.html")
async def announcements_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin", "official")
    return await _announcements_context(request)


async def _clip_or_text(request: web.Request, form: Any, body: dict[str, Any]) -> None:
    clip = form.get("clip")
    if isinstance(clip, web.FileField) and clip.filename:
        body.pop("text", None)
        body["clip"] = await request.app[ANNOUNCER].renderer.store_clip(clip.file.read())


@routes.post("/announcements")
async def create_announcement_page(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    a = request.app[ANNOUNCER]
    body, errors, typed = _announcement_form(form)
    if not errors:
        try:
            await _clip_or_text(request, form, body)
            made = await a.create(body)
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["when" if field in ("when", "starts_on", "ends_on") else "text"] = pages.plain(e.message)
        else:
            await pages.audit(request, user, "soạn thông báo loa", {"id": made["id"], **body})
            await pages.flash(
                request, f"Đã tạo bản nháp số {made['id']} ({made['seconds']:.0f} giây). Nghe thử rồi duyệt."
            )
            raise web.HTTPSeeOther(f"/announcements#announcement-{made['id']}")
    context = await _announcements_context(request, typed, errors)
    return aiohttp_jinja2.render_template("announcements.html", request, context, status=400)


@routes.get("/announcements/{id:\\d{1,9}}/edit")
@aiohttp_jinja2.template("announcement_edit.html")
async def edit_announcement_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin", "official")
    a = request.app[ANNOUNCER]
    item = await a.store.call(a.get, int(request.match_info["id"]))
    if item["status"] != "draft":
        raise InvalidRequest("Chỉ sửa được bản nháp", field="status")
    context = await _announcements_context(request, _typed_from(item, request.app[CONSOLE].tz))
    return context | {"item": item}


@routes.post("/announcements/{id:\\d{1,9}}/edit")
async def edit_announcement(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    a = request.app[ANNOUNCER]
    announcement_id = int(request.match_info["id"])
    item = await a.store.call(a.get, announcement_id)
    body, errors, typed = _announcement_form(form)
    if item["clip"] and not (isinstance(form.get("clip"), web.FileField) and form["clip"].filename):
        body.pop("text", None)
        body["clip"] = item["clip"]  # the recording stays unless a new one is chosen
    if not errors:
        try:
            await _clip_or_text(request, form, body)
            changed = await a.edit(announcement_id, body)
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["when" if field in ("when", "starts_on", "ends_on") else "text"] = pages.plain(e.message)
        else:
            await pages.audit(request, user, "sửa thông báo loa", {"id": announcement_id, **body})
            await pages.flash(
                request, f"Đã sửa bản nháp số {announcement_id} ({changed['seconds']:.0f} giây). Nghe thử rồi duyệt."
            )
            raise web.HTTPSeeOther(f"/announcements#announcement-{announcement_id}")
    context = await _announcements_context(request, typed, errors)
    return aiohttp_jinja2.render_template("announcement_edit.html", request, context | {"item": item}, status=400)


@routes.post("/announcements/{id:\\d{1,9}}/{action:approve|cancel}")
async def decide(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    await pages.form(request)
    a = request.app[ANNOUNCER]
    announcement_id = int(request.match_info["id"])
    try:
        if request.match_info["action"] == "approve":
            await a.approve_now(announcement_id)
            await pages.flash(request, f"Đã duyệt thông báo số {announcement_id}.")
        else:
            await a.cancel_announcement(announcement_id)
            await pages.flash(request, f"Đã huỷ thông báo số {announcement_id}.")
    except LoaError as e:
        await pages.flash(request, e.message, "error")
    else:
        await pages.audit(
            request,
            user,
            {"approve": "duyệt thông báo loa", "cancel": "huỷ thông báo loa"}[request.match_info["action"]],
            {"id": announcement_id},
        )
    raise web.HTTPSeeOther("/announcements")


@routes.get(r"/audio/{key:[0-9a-f]{24}}.mp3")
async def audio(request: web.Request) -> web.StreamResponse:
    await pages.user(request)
    return web.FileResponse(await request.app[ANNOUNCER].renderer.preview(request.match_info["key"]))


@routes.get("/contacts")
@aiohttp_jinja2.template("contacts.html")
async def contacts_page(request: web.Request) -> dict[str, Any]:
    """The phone book: searched by name or number, filtered by hamlet and role; officials add, edit, delete."""
    user = await pages.user(request)
    session = await get_session(request)
    q = request.query.get("q", "")[:100].strip()
    hamlet = request.query.get("hamlet", "")[:100]
    role = request.query.get("role", "")
    everyone = await request.app[BROADCASTS].contacts(user)
    folded_q = fold(q).lower()
    shown = [
        c for c in everyone
        if (not q or folded_q in fold(c["name"]).lower() or q.replace(" ", "") in c["number"]
            or (q.startswith("0") and q[1:].replace(" ", "") in c["number"]))
        and (not hamlet or c["hamlet"] == hamlet) and (not role or role in c["roles"])
    ]  # fmt: skip
    return {
        "contacts": shown[:500],
        "total": len(everyone),
        "matching": len(shown),
        "report": session.pop("import_report", None),
        "filters": {"q": q, "hamlet": hamlet, "role": role},
        "hamlets": await request.app[BROADCASTS].hamlet_names(),
        "roles": people.ROLES,
        "role_names": ROLE_NAMES,
        "form": {"name": "", "number": "", "hamlet": hamlet, "roles": ["resident"]},
        "errors": {},
    }


def _contact_form(form: Any) -> dict[str, Any]:
    return {
        "name": str(form.get("name", "")).strip(),
        "number": str(form.get("number", "")).strip(),
        "hamlet": str(form.get("hamlet", "")),
        "roles": [str(r) for r in form.getall("roles", [])] or ["resident"],
    }


@routes.post("/contacts")
async def add_contact_page(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    raw = _contact_form(form)
    try:
        made = await request.app[BROADCASTS].add_contact(raw)
    except LoaError as e:
        await pages.flash(request, e.message, "error")
        raise web.HTTPSeeOther("/contacts#add-contact") from None
    await pages.audit(request, user, "thêm liên hệ", {"name": made["name"], "number": made["number"]})
    await pages.flash(request, f"Đã thêm {made['name']} ({made['number']}).")
    raise web.HTTPSeeOther(f"/contacts?q={made['number']}")


@routes.get("/contacts/{id:\\d{1,9}}/edit")
@aiohttp_jinja2.template("contact_edit.html")
async def edit_contact_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin", "official")
    contact = await request.app[BROADCASTS].contact(int(request.match_info["id"]))
    return {"contact": contact, "hamlets": await request.app[BROADCASTS].hamlet_names(),
            "roles": people.ROLES, "role_names": ROLE_NAMES}  # fmt: skip


@routes.post("/contacts/{id:\\d{1,9}}/{action:edit|delete}")
async def change_contact(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    contact_id = int(request.match_info["id"])
    b = request.app[BROADCASTS]
    try:
        if request.match_info["action"] == "delete":
            contact = await b.contact(contact_id)
            await b.delete_contact(contact_id)
            await pages.audit(request, user, "xoá liên hệ", {"name": contact["name"], "number": contact["number"]})
            await pages.flash(request, f"Đã xoá {contact['name']} ({contact['number']}).")
            raise web.HTTPSeeOther("/contacts")
        raw = _contact_form(form)
        changed = await b.update_contact(contact_id, raw)
    except LoaError as e:
        await pages.flash(request, e.message, "error")
        raise web.HTTPSeeOther(f"/contacts/{contact_id}/edit") from None
    await pages.audit(request, user, "sửa liên hệ", {"name": changed["name"], "number": changed["number"]})
    await pages.flash(request, f"Đã lưu {changed['name']}.")
    raise web.HTTPSeeOther(f"/contacts?q={changed['number']}")


@routes.get("/hamlets")
@aiohttp_jinja2.template("hamlets.html")
async def hamlets_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin", "official")
    return {"hamlets": await request.app[BROADCASTS].hamlets_summary()}


@routes.post("/hamlets")
async def add_hamlet_page(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    try:
        made = await request.app[BROADCASTS].add_hamlet(str(form.get("name", "")))
    except LoaError as e:
        await pages.flash(request, e.message, "error")
    else:
        await pages.audit(request, user, "thêm thôn", {"name": made["name"]})
        await pages.flash(request, f"Đã thêm thôn {made['name']}.")
    raise web.HTTPSeeOther("/hamlets")


@routes.post("/hamlets/{id:\\d{1,9}}/rename")
async def rename_hamlet_page(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    name = str(form.get("name", ""))
    try:
        await request.app[BROADCASTS].rename_hamlet(int(request.match_info["id"]), name)
    except LoaError as e:
        await pages.flash(request, e.message, "error")
    else:
        await pages.audit(request, user, "đổi tên thôn", {"id": request.match_info["id"], "name": name})
        await pages.flash(request, f"Đã đổi tên thôn thành {name.strip()}.")
    raise web.HTTPSeeOther("/hamlets")


@routes.post("/contacts/import")
async def import_contacts_page(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        await pages.flash(request, "Hãy chọn tệp CSV.", "error")
        raise web.HTTPSeeOther("/contacts")
    try:
        report = await request.app[BROADCASTS].import_contacts(upload.file.read())
    except LoaError as e:
        await pages.flash(request, e.message, "error")
    else:
        session = await get_session(request)
        session["import_report"] = {
            "imported": report.imported,
            "merged": report.merged,
            "converted": report.converted,
            "rejected": [{"line": r["line"], "reason": r["reason"]} for r in report.rejected],
        }
        await pages.audit(
            request, user, "nhập danh bạ", {"imported": report.imported, "rejected": len(report.rejected)}
        )
    raise web.HTTPSeeOther("/contacts")


async def _alerts_context(
    request: web.Request, user: User, form: Any = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    b = request.app[BROADCASTS]
    boards = await b.recent_boards(20, user)
    for board in boards:
        board["when"] = pages.when(request, board["created_at"])
        board["mine"] = next((r for r in board["recipients"] if user.number and r["number"] == user.number), None)
        for r in board["recipients"]:
            for k in ("confirmed_at", "resent_at", "escalated_at"):
                r[k] = pages.when(request, r[k])
    hamlets = await request.app[BROADCASTS].hamlet_names()
    typed = {
        "text": str(form.get("text", "")) if form else "",
        "hamlets": form.getall("hamlets", []) if form else [],
        "heads_only": bool(form.get("heads_only")) if form else True,
        "minutes": str(form.get("minutes", "")) if form else str(int(b.config.alert_confirm_minutes)),
        "escalate_to": str(form.get("escalate_to", "")) if form else b.config.alert_escalate_to,
    }
    return {
        "boards": boards,
        "hamlets": hamlets,
        "form": typed,
        "errors": errors or {},
        "price": b.config.segment_price,
    }


@routes.get("/alerts")
@aiohttp_jinja2.template("alerts.html")
async def alerts_page(request: web.Request) -> dict[str, Any]:
    user = await pages.user(request)
    return await _alerts_context(request, user)


@routes.get("/alerts/boards")
@aiohttp_jinja2.template("alert_boards.html")
async def alert_boards(request: web.Request) -> dict[str, Any]:
    """The boards alone: the alerts page fetches them every 15 s to stay current."""
    user = await pages.user(request)
    return await _alerts_context(request, user)


@routes.post("/alerts/{id:\\d{1,9}}/{action:confirm|close}")
async def alert_action(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    await pages.form(request)
    alert_id = int(request.match_info["id"])
    b = request.app[BROADCASTS]
    try:
        if request.match_info["action"] == "confirm":
            counted = await b.confirm_alert(user, alert_id)
            text = f"Đã xác nhận cảnh báo {alert_id}." if counted else f"Cảnh báo {alert_id} đã được xác nhận trước đó."
            await pages.audit(request, user, "xác nhận cảnh báo", {"id": alert_id})
        else:
            user.require("admin", "official")
            closed = await b.close_alert(alert_id)
            text = f"Đã đóng cảnh báo {alert_id}: không nhắc lại, không báo cán bộ nữa." if closed else (
                f"Cảnh báo {alert_id} đã đóng hoặc đã được xác nhận đủ.")  # fmt: skip
            await pages.audit(request, user, "đóng cảnh báo", {"id": alert_id})
    except LoaError as e:
        await pages.flash(request, e.message, "error")
    else:
        await pages.flash(request, text)
    raise web.HTTPSeeOther(f"/alerts#alert-{alert_id}")


@routes.post("/alerts")
async def send_alert(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    target: dict[str, Any] = {"hamlets": [str(h) for h in form.getall("hamlets", [])]}
    if form.get("heads_only"):
        target["roles"] = ["hamlet_head"]
    body: dict[str, Any] = {"text": str(form.get("text", "")), "to": target,
                            "escalate_to": str(form.get("escalate_to", "")).strip(),
                            "loudspeaker": bool(form.get("loudspeaker"))}  # fmt: skip
    errors: dict[str, str] = {}
    try:
        body["confirm_minutes"] = float(str(form.get("minutes", "")).strip() or "30")
    except ValueError:
        errors["text"] = "Số phút chờ phải là một số."
    if not target["hamlets"]:
        errors["to"] = "Hãy chọn ít nhất một thôn."
    b = request.app[BROADCASTS]
    if body["escalate_to"]:
        try:
            b.valid_number(body["escalate_to"])
        except LoaError as e:
            errors["escalate_to"] = e.message
    if not errors:
        try:
            created = await b.create_alert(body)
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["to" if field == "to" else "text"] = e.message
        else:
            await pages.audit(request, user, "gửi cảnh báo", body | {"id": created["id"]})
            await pages.flash(request, f"Đã gửi cảnh báo {created['id']} tới {created['recipients']} người.")
            raise web.HTTPSeeOther("/alerts")
    context = await _alerts_context(request, user, form, errors)
    return aiohttp_jinja2.render_template("alerts.html", request, context, status=400)
