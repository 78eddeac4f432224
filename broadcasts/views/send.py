"""The console's "Gửi tin nhắn": one text to hamlets (their contacts and those who subscribed by SMS),
roles or typed numbers, now or at a time, weekly or monthly, with its cost shown before it goes to many;
the reminders still to come listed with stop and edit."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from broadcasts import people
from broadcasts.keys import BROADCASTS
from gateway.core.errors import InvalidRequest, LoaError, NotFound
from gateway.core.principal import User
from gateway.core.text import fold
from gateway.web import pages

routes = web.RouteTableDef()
DAYS = {"mon": "Thứ Hai", "tue": "Thứ Ba", "wed": "Thứ Tư", "thu": "Thứ Năm", "fri": "Thứ Sáu",
        "sat": "Thứ Bảy", "sun": "Chủ Nhật"}  # fmt: skip
WHEN = ("now", "at", "weekly", "monthly")


def _typed(form: Any, user: User) -> dict[str, Any]:
    """What the form shows: what was posted, or a new form's defaults (subscribers included)."""
    if form is None:
        return {"text": "", "numbers": "", "encoding": "auto", "hamlets": [user.hamlet] if user.is_head else [],
                "roles": [], "subscribers": True, "when": "now", "date": "", "time": "", "days": [],
                "monthday": "", "replaces": ""}  # fmt: skip
    return {
        "text": str(form.get("text", "")),
        "numbers": str(form.get("numbers", "")),
        "encoding": str(form.get("encoding", "auto")),
        "hamlets": form.getall("hamlets", []),
        "roles": form.getall("roles", []),
        "subscribers": bool(form.get("subscribers")),
        "when": str(form.get("when", "now")),
        "date": str(form.get("date", ""))[:10],
        "time": str(form.get("time", ""))[:20],
        "days": form.getall("days", []),
        "monthday": str(form.get("monthday", ""))[:2],
        "replaces": str(form.get("replaces", ""))[:9],
    }


async def _send_context(
    request: web.Request,
    user: User,
    form: Any = None,
    errors: dict[str, str] | None = None,
    confirm: dict[str, Any] | None = None,
    typed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    b = request.app[BROADCASTS]
    summary = await b.hamlets_summary()
    if user.is_head:
        summary = [h for h in summary if h["name"] == user.hamlet]
    reminders = []
    for r in await b.reminders():
        if r["status"] != "active" or not _may_touch(user, r):
            continue
        r["next"] = pages.when(request, r["next_fire_at"])
        r["rule"] = _rule_words(r["when"])
        r["who"] = _target_words(r["to"])
        reminders.append(r)
    return {
        "hamlets": [h["name"] for h in summary],
        "subscribers": {h["name"]: h["subscribers"] for h in summary},
        "roles": people.ROLES,
        "role_names": people.ROLE_NAMES,
        "days": DAYS,
        "form": typed or _typed(form, user),
        "errors": errors or {},
        "price": b.config.segment_price,
        "confirm": confirm,
        "reminders": reminders,
        "batch": (await get_session(request)).pop("batch", None) if form is None else None,
    }


def _may_touch(user: User, reminder: dict[str, Any]) -> bool:
    """An official sees and stops every reminder; a hamlet head only those to their own hamlet alone."""
    if not user.is_head:
        return True
    to = reminder["to"]
    return set(to) <= {"hamlets", "roles", "subscribers"} and to.get("hamlets") == [user.hamlet]


def _readable(rule: Any) -> Any:
    """A stored rule ({"cron": "30 6 * * mon"}, {"at": epoch}) as the form's own ({"weekly": …})."""
    if isinstance(rule, dict) and isinstance(rule.get("cron"), str):
        fields = rule["cron"].split()
        if len(fields) == 5 and fields[0].isdigit() and fields[1].isdigit():
            hhmm = f"{int(fields[1]):02d}:{int(fields[0]):02d}"
            if fields[2] == "*" and fields[3] == "*" and fields[4] != "*":
                return {"weekly": {"days": fields[4].split(","), "time": hhmm}}
            if fields[2].isdigit() and fields[3] == "*" and fields[4] == "*":
                return {"monthly": {"day": int(fields[2]), "time": hhmm}}
    return rule


def _rule_words(rule: Any) -> str:
    rule = _readable(rule)
    if not isinstance(rule, dict):
        return "một lần"
    if "weekly" in rule:
        days = ", ".join(DAYS.get(d, d) for d in rule["weekly"].get("days", []))
        return f"hằng tuần: {days} lúc {rule['weekly'].get('time', '')}"
    if "monthly" in rule:
        return f"hằng tháng: ngày {rule['monthly'].get('day')} lúc {rule['monthly'].get('time', '')}"
    if "at" in rule:
        return "một lần"
    return "theo lịch riêng (qua API)"


def _target_words(to: dict[str, Any]) -> str:
    parts = []
    if to.get("hamlets"):
        parts.append("thôn " + ", ".join(to["hamlets"]) + (" (cả người đăng ký DK)" if to.get("subscribers") else ""))
    if to.get("roles"):
        parts.append(", ".join(people.ROLE_NAMES.get(r, r) for r in to["roles"]))
    if to.get("groups"):
        parts.append("nhóm " + ", ".join(to["groups"]))
    if to.get("numbers"):
        parts.append(f"{len(to['numbers'])} số điện thoại")
    return "; ".join(parts)


def _rule(typed: dict[str, Any], now: datetime) -> Any:
    """The form's "khi nào" as the scheduler's rule; a time in the past refused here, while drafting."""
    kind = typed["when"] if typed["when"] in WHEN else "now"
    if kind == "now":
        return "now"
    hhmm = pages.clock(typed["time"], "when")
    if kind == "at":
        try:
            day = datetime.strptime(typed["date"], "%Y-%m-%d").date()
        except ValueError:
            raise InvalidRequest("Hãy chọn ngày gửi.", field="when") from None
        moment = datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time(), now.tzinfo)
        if moment <= now:
            raise InvalidRequest(
                f"{moment:%H:%M ngày %d/%m/%Y} đã qua: hãy chọn một lúc sau {now:%H:%M ngày %d/%m/%Y}.", field="when"
            )
        return {"at": moment.strftime("%Y-%m-%dT%H:%M")}
    if kind == "weekly":
        days = [d for d in typed["days"] if d in DAYS]
        if not days:
            raise InvalidRequest("Hãy chọn ít nhất một ngày trong tuần.", field="when")
        return {"weekly": {"days": days, "time": hhmm}}
    day_text = typed["monthday"].strip()
    if not day_text.isdigit() or not 1 <= int(day_text) <= 31:
        raise InvalidRequest("Ngày trong tháng phải từ 1 đến 31.", field="when")
    return {"monthly": {"day": int(day_text), "time": hhmm}}


@routes.get("/send")
async def send_page(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    typed = None
    if request.query.get("edit", "").isdigit():  # "Sửa" on a reminder: its text and people in the form
        wanted = int(request.query["edit"][:9])
        found = [r for r in await request.app[BROADCASTS].reminders() if r["id"] == wanted]
        if not found or found[0]["status"] != "active" or not _may_touch(user, found[0]):
            raise NotFound("Lịch nhắc này không còn chạy (đã dừng hoặc đã gửi xong).")
        typed = _from_reminder(found[0], user, request.app[BROADCASTS].config.timezone)
    context = await _send_context(request, user, typed=typed)
    return aiohttp_jinja2.render_template("send.html", request, context)


def _from_reminder(r: dict[str, Any], user: User, tz: str) -> dict[str, Any]:
    typed = _typed(None, user)
    to, rule = r["to"], _readable(r["when"])
    rule = rule if isinstance(rule, dict) else {}
    typed.update(text=r["text"], hamlets=to.get("hamlets", []), roles=to.get("roles", []),
                 subscribers=bool(to.get("subscribers")), numbers="\n".join(to.get("numbers", [])),
                 replaces=str(r["id"]))  # fmt: skip
    if "weekly" in rule:
        typed.update(when="weekly", days=rule["weekly"].get("days", []), time=rule["weekly"].get("time", ""))
    elif "monthly" in rule:
        typed.update(when="monthly", monthday=str(rule["monthly"].get("day", "")), time=rule["monthly"].get("time", ""))
    elif isinstance(rule.get("at"), int | float):
        moment = datetime.fromtimestamp(rule["at"], ZoneInfo(tz))
        typed.update(when="at", date=f"{moment:%Y-%m-%d}", time=f"{moment:%H:%M}")
    return typed


@routes.post("/send")
async def send(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    form = await pages.form(request)
    typed = _typed(form, user)
    text = typed["text"].strip()
    target: dict[str, Any] = {}
    if typed["hamlets"]:
        target["hamlets"] = [str(h) for h in typed["hamlets"]]
        if typed["subscribers"] and not typed["roles"]:
            target["subscribers"] = True  # those who texted "DK <thôn>" have no role: only "everyone"
    if typed["roles"]:
        target["roles"] = [str(r) for r in typed["roles"]]
    lines = typed["numbers"].replace(",", "\n").splitlines()
    if typed_numbers := [n.strip() for n in lines if n.strip()]:
        target["numbers"] = typed_numbers
    if typed["encoding"] == "gsm7":
        text = fold(text)
    errors: dict[str, str] = {}
    if not text:
        errors["text"] = "Hãy viết nội dung tin nhắn."
    if not target:
        errors["to"] = "Hãy chọn thôn, vai trò hoặc nhập số điện thoại."
    b = request.app[BROADCASTS]
    rule: Any = "now"
    try:
        rule = _rule(typed, datetime.fromtimestamp(b.clock(), ZoneInfo(b.config.timezone)))
    except LoaError as e:
        errors["when"] = e.message
    if not errors:
        try:
            await b.check_target(user, target, numbers=True)
            preview = await b.preview({"text": text, "to": target, "when": rule})
            reach = preview["recipients"] - (preview["capped_now"] if rule == "now" else 0)
            if reach <= 0:
                raise InvalidRequest(_nobody(preview), field="to")
            if preview["recipients"] > 1 and str(form.get("confirm", "")) != _fingerprint(preview):
                # to many people: first say what it will cost, then send on a second click
                confirm = preview | {"key": _fingerprint(preview), "rule": _rule_words(rule)}
                context = await _send_context(request, user, form, {}, confirm)
                return aiohttp_jinja2.render_template("send.html", request, context)
            created = await b.create_reminder({"text": text, "to": target, "when": rule}, by=user)
        except LoaError as e:
            field = e.details.get("field", "text")
            key = {"to": "to", "hamlet": "to", "group": "to", "when": "when"}.get(field, "text")
            errors[key] = pages.plain(e.message)
        else:
            replaced = await _replace(request, user, typed["replaces"])
            run = created.get("run")
            detail = {"to": target, "text": text, "when": rule, "queued": run["queued"] if run else 0}
            await pages.audit(request, user, "gửi tin nhắn" if run else "đặt lịch nhắc", detail)
            if run is not None and not run["queued"]:
                errors["to"] = "Không tin nào được xếp vào hàng gửi: " + _queued(run)
            else:
                note = (
                    _queued(run)
                    if run
                    else f"Đã đặt lịch nhắc: {_rule_words(rule)}, lần đầu {pages.when(request, created['next_fire_at'])}."  # noqa: E501
                )
                await pages.flash(request, note + (" Lịch cũ đã dừng." if replaced else ""))
                if run:
                    session = await get_session(request)
                    session["batch"] = f"reminder:{created['id']}"
                raise web.HTTPSeeOther("/send" if run else "/send#reminders")
    context = await _send_context(request, user, form, errors)
    return aiohttp_jinja2.render_template("send.html", request, context, status=400)


async def _replace(request: web.Request, user: User, replaces: str) -> bool:
    """ "Sửa" saved as a new reminder: the one it replaces stops (if it still runs and is theirs)."""
    if not replaces.isdigit():
        return False
    b = request.app[BROADCASTS]
    found = [r for r in await b.reminders() if r["id"] == int(replaces) and r["status"] == "active"]
    if not found or not _may_touch(user, found[0]):
        return False
    await b.cancel_reminder(int(replaces))
    return True


@routes.post("/send/reminders/{id:\\d{1,9}}/cancel")
async def cancel_reminder(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    await pages.form(request)
    reminder_id = int(request.match_info["id"])
    b = request.app[BROADCASTS]

    async def work() -> pages.Done:
        found = [r for r in await b.reminders() if r["id"] == reminder_id]
        if not found or found[0]["status"] != "active":
            raise NotFound("Lịch nhắc này đã dừng hoặc đã gửi xong.")
        if not _may_touch(user, found[0]):
            raise InvalidRequest("Lịch nhắc này không phải của thôn bạn.")
        await b.cancel_reminder(reminder_id)
        return pages.Done(f"Đã dừng lịch nhắc “{found[0]['text'][:60]}”.", "dừng lịch nhắc", {"id": reminder_id})

    await pages.act(request, user, "/send#reminders", work)


def _nobody(preview: dict[str, Any]) -> str:
    """Why a send would reach no one, said before anything is saved."""
    if preview["opted_out"] and not preview["recipients"]:
        return f"Không ai nhận được tin này: cả {preview['opted_out']} số đã nhắn HUY (từ chối nhận tin)."
    if preview["capped_now"]:
        return f"Không ai nhận được tin này hôm nay: {preview['capped_now']} số đã đủ tin trong ngày."
    return "Không có ai trong những người đã chọn: hãy chọn thôn có người hoặc nhập số điện thoại."


def _queued(run: dict[str, Any]) -> str:
    """What the sender is told of the run: how many queued, and why any were not."""
    note = f"Đã xếp {run['queued']} tin vào hàng gửi."
    if run.get("deferred"):
        note += " Đang giờ nghỉ đêm: tin sẽ đi lúc sáng."
    if run.get("capped") or run.get("opted_out"):
        note += f" Bỏ qua {run.get('capped', 0)} số đã đủ tin trong ngày, {run.get('opted_out', 0)} số đã nhắn HUY."
    return note


def _fingerprint(preview: dict[str, Any]) -> str:
    """What the sender confirmed: a change of people or length after the preview asks again."""
    return f"{preview['recipients']}-{preview['segments']}"
