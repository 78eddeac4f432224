"""The console's loudspeaker announcements: compose (typed text or a recording), edit a draft,
listen, approve or cancel; the week ahead and the proof of every play."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from broadcasts.announcements import WEEKDAY_NAMES
from broadcasts.keys import ANNOUNCER
from gateway.core.errors import InvalidRequest, LoaError
from gateway.core.keys import CLOCK
from gateway.web import pages
from gateway.web.keys import CONSOLE

routes = web.RouteTableDef()
WEEKDAY_LABELS = ["Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật"]


ANNOUNCE_KINDS = ("now", "once", "weekly", "monthly")


def _announcement_form(form: Any, now: datetime) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """The composer's fields as an API body, the errors beside their fields, and what was typed.
    One schedule choice; a field that choice would ignore is refused rather than silently dropped;
    a time as typed ("6h30") is read, and a moment already past is refused now, not at approval."""
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
        else:
            try:
                moment = datetime.fromisoformat(typed["at"]).replace(tzinfo=now.tzinfo)
            except ValueError:
                errors["when"] = "Ngày giờ phát không đọc được: hãy chọn lại trong ô ngày giờ."
            else:
                if moment <= now:
                    errors["when"] = f"{moment:%H:%M ngày %d/%m/%Y} đã qua: hãy chọn một lúc sau {now:%H:%M %d/%m/%Y}."
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
    if kind in ("weekly", "monthly") and "when" not in errors:
        try:
            hhmm = pages.clock(typed["time"], "when")
        except LoaError as e:
            errors["when"] = e.message
        else:
            typed["time"] = hhmm
            next(iter(body["when"].values()))["time"] = hhmm
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


def _now(request: web.Request) -> datetime:
    return datetime.fromtimestamp(request.app[CLOCK](), request.app[CONSOLE].tz)


def _whole(text: str, default: int) -> int | str:
    """A small whole number typed in a form; anything else is passed on as typed, to be refused by name."""
    text = text.strip()
    if not text:
        return default
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else text


async def _announcements_context(
    request: web.Request, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    console = request.app[CONSOLE]
    today = datetime.fromtimestamp(request.app[CLOCK](), console.tz).date()
    raw_day = request.query.get("log_day", "")
    try:
        log_day = date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        raise InvalidRequest("Ngày phải có dạng 2026-12-07", field="log_day") from None
    found = await request.app[ANNOUNCER].overview(log_day)
    for item in found["items"]:
        item["next"] = pages.when(request, item["next_play_at"])
    for row in found["log"]:
        row["planned"] = pages.when(request, row["planned_at"])
        row["started"] = pages.when(request, row["started_at"])
    week: list[dict[str, Any]] = []
    for play in found["week"]:
        moment = datetime.fromtimestamp(play["at"], console.tz)
        label = f"{WEEKDAY_LABELS[moment.weekday()]} {moment:%d/%m}"
        if not week or week[-1]["day"] != label:
            week.append({"day": label, "plays": []})
        week[-1]["plays"].append(play | {"time": f"{moment:%H:%M}"})
    return {
        "items": found["items"],
        "log": found["log"],
        "log_day": log_day.isoformat() if log_day else "",
        "today": today.isoformat(),
        "yesterday": (today - timedelta(days=1)).isoformat(),
        "week": week,
        "hamlets": found["hamlets"],
        "order": await request.app[ANNOUNCER].priority_order(),
        "errors": errors or {},
        "form": form or EMPTY_FORM,
        "kinds": KIND_NAMES,
        "weekdays": list(WEEKDAY_NAMES.items()),
    }


@routes.get("/announcements")
@aiohttp_jinja2.template("announcements.html")
async def announcements_page(request: web.Request) -> dict[str, Any]:
    await pages.official(request)
    return await _announcements_context(request)


async def _clip_or_text(request: web.Request, form: Any, body: dict[str, Any]) -> None:
    """A recording chosen in the form replaces the typed text."""
    clip = form.get("clip")
    if isinstance(clip, web.FileField) and clip.filename:
        body.pop("text", None)
        body["clip"] = await request.app[ANNOUNCER].store_clip(clip.file.read())


def _error_at(e: LoaError) -> tuple[str, str]:
    """Where the composer shows an error: beside the schedule or beside the text."""
    field = e.details.get("field", "text")
    return "when" if field in ("when", "starts_on", "ends_on") else "text", pages.plain(e.message)


@routes.post("/announcements")
async def create_announcement_page(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    body, errors, typed = _announcement_form(form, _now(request))
    if not errors:
        try:
            await _clip_or_text(request, form, body)
            made = await request.app[ANNOUNCER].create(body, by=user)
        except LoaError as e:
            field, message = _error_at(e)
            errors[field] = message
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
    await pages.official(request)
    item = await request.app[ANNOUNCER].draft(int(request.match_info["id"]))
    context = await _announcements_context(request, _typed_from(item, request.app[CONSOLE].tz))
    return context | {"item": item}


@routes.post("/announcements/{id:\\d{1,9}}/edit")
async def edit_announcement(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    a = request.app[ANNOUNCER]
    announcement_id = int(request.match_info["id"])
    item = await a.announcement(announcement_id)
    body, errors, typed = _announcement_form(form, _now(request))
    if item["clip"] and not (isinstance(form.get("clip"), web.FileField) and form["clip"].filename):
        body.pop("text", None)
        body["clip"] = item["clip"]  # the recording stays unless a new one is chosen
    if not errors:
        try:
            await _clip_or_text(request, form, body)
            changed = await a.edit(announcement_id, body)
        except LoaError as e:
            field, message = _error_at(e)
            errors[field] = message
        else:
            await pages.audit(request, user, "sửa thông báo loa", {"id": announcement_id, **body})
            await pages.flash(
                request, f"Đã sửa bản nháp số {announcement_id} ({changed['seconds']:.0f} giây). Nghe thử rồi duyệt."
            )
            raise web.HTTPSeeOther(f"/announcements#announcement-{announcement_id}")
    context = await _announcements_context(request, typed, errors)
    return aiohttp_jinja2.render_template("announcement_edit.html", request, context | {"item": item}, status=400)


@routes.post("/announcements/{id:\\d{1,9}}/{action:approve|cancel|up|down}")
async def decide(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    await pages.form(request)
    a = request.app[ANNOUNCER]
    announcement_id = int(request.match_info["id"])
    action = request.match_info["action"]
    approve = action == "approve"

    async def work() -> pages.Done:
        if action in ("up", "down"):
            await a.move(announcement_id, action)
            return pages.Done(
                f"Đã chuyển tin ưu tiên số {announcement_id} {'lên' if action == 'up' else 'xuống'}.",
                "sắp thứ tự tin ưu tiên", {"id": announcement_id, "direction": action},
            )  # fmt: skip
        if approve:
            await a.approve_now(announcement_id)
            return pages.Done(
                f"Đã duyệt thông báo số {announcement_id}.", "duyệt thông báo loa", {"id": announcement_id}
            )
        await a.cancel_announcement(announcement_id)
        return pages.Done(f"Đã huỷ thông báo số {announcement_id}.", "huỷ thông báo loa", {"id": announcement_id})

    await pages.act(request, user, "/announcements#order" if action in ("up", "down") else "/announcements", work)


@routes.get(r"/audio/{key:[0-9a-f]{24}}.mp3")
async def audio(request: web.Request) -> web.StreamResponse:
    await pages.user(request)
    return web.FileResponse(await request.app[ANNOUNCER].preview(request.match_info["key"]))
