"""The officials' console: server-rendered Vietnamese pages, sessions, CSRF, roles, audit."""

from __future__ import annotations

import base64
import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from broadcasts import people
from gateway.errors import LoaError
from gateway.keys import ANNOUNCER, BROADCASTS, CONFIG, HARDWARE, RESIDENTS, STORE
from gateway.keywords import kb
from gateway.keywords import service as residents_db
from gateway.sms import outbox as outbox_db
from gateway.web import accounts
from gateway.web.accounts import ROLE_NAMES, User

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
USER = web.RequestKey("user", User)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application) -> None:
    config = app[CONFIG]
    key = base64.urlsafe_b64decode(config.web.secret) if config.web.secret else secrets.token_bytes(32)
    if not config.web.secret:
        log.warning("no [web] secret: a new session key for this run; everyone logs in again after a restart")
    setup_session(
        app,
        EncryptedCookieStorage(
            key,
            cookie_name="loa_session",
            httponly=True,
            samesite="Strict",
            max_age=int(config.web.session_hours * 3600),
        ),
    )
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("gateway.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        context_processors=[_context],
    )
    app.router.add_static("/static", str(__import__("pathlib").Path(__file__).parent / "static"))
    app.add_routes(routes)


async def _session_user(request: web.Request) -> User | None:
    """The logged-in user, looked up once per request: the context processor (which runs before
    the handler) and the handler's own check share it."""
    if USER in request:
        return request[USER]
    session = await get_session(request)
    user_id = session.get("user_id")
    user = await request.app[STORE].call(accounts.get, user_id) if isinstance(user_id, int) else None
    if user is not None:
        request[USER] = user
    return user


async def _context(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)
    user = await _session_user(request)
    flashes = session.pop("flashes", [])
    return {
        "user": user,
        "role_name": ROLE_NAMES.get(user.role, "") if user else "",
        "csrf": await _csrf(request),
        "commune": request.app[CONFIG].commune.name,
        "flashes": flashes,
    }


async def _csrf(request: web.Request) -> str:
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


async def _form(request: web.Request) -> Any:
    """The posted form, refused unless it carries this session's CSRF token."""
    form = await request.post()
    session = await get_session(request)
    expected = session.get("csrf")
    given = form.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise web.HTTPForbidden(
            text="Biểu mẫu hết hạn hoặc không hợp lệ (thiếu mã CSRF). Hãy tải lại trang và gửi lại.",
            content_type="text/plain",
        )
    return form


async def _user(request: web.Request, *roles: str) -> User:
    user = await _session_user(request)
    if user is None:
        raise web.HTTPSeeOther("/login")
    if roles and user.role not in roles:
        raise web.HTTPForbidden(text="Tài khoản của bạn không xem được trang này.", content_type="text/plain")
    return user


async def _flash(request: web.Request, text: str, kind: str = "ok") -> None:
    session = await get_session(request)
    session["flashes"] = [*session.get("flashes", []), (kind, text)]


async def _audit(request: web.Request, user: User, action: str, detail: Any = "") -> None:
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, default=str)
    await request.app[STORE].call(accounts.audit, user.username, action, text, time.time())


def _when(app: web.Application, ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, ZoneInfo(app[CONFIG].broadcasts.timezone)).strftime("%H:%M %d/%m/%Y")


# ---- login ----


@routes.get("/login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {"username": "", "error": None}


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    username = str(form.get("username", ""))
    config = request.app[CONFIG].web
    try:
        user = await request.app[STORE].call(
            accounts.login,
            username,
            str(form.get("password", "")),
            request.remote or "?",
            time.time(),
            config.lock_after,
            config.lock_minutes * 60,
        )
    except accounts.LoginRefused as e:
        await request.app[STORE].call(accounts.audit, username, "login refused", e.message, time.time())
        context = {"username": username, "error": e.message}
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    session = await new_session(request)
    session["user_id"] = user.id
    session["csrf"] = secrets.token_urlsafe(24)
    await request.app[STORE].call(accounts.audit, user.username, "login", "", time.time())
    raise web.HTTPSeeOther("/")


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await _form(request)
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


# ---- dashboard ----


def _dashboard_numbers(db: Any, since: float) -> dict[str, Any]:
    return {
        "sent_today": db.execute(
            "select count(*) from outbox where status in ('sent','delivered') and sent_at>=?", [since]
        ).fetchone()[0],
        "failures": list(
            db.query("select recipient, last_error from outbox where status='failed' order by id desc limit 5")
        ),
        "open_alerts": db.execute("select count(*) from alerts where status='open'").fetchone()[0],
        "open_questions": db.execute("select count(*) from questions where status='open'").fetchone()[0],
        "upcoming": list(
            db.query(
                "select id, text, next_play_at from announcements where status='scheduled'"
                " order by next_play_at limit 5"
            )
        ),
        "plays": list(db.query("select started_at, planned_at, result from broadcast_log order by id desc limit 5")),
    }


@routes.get("/")
@aiohttp_jinja2.template("dashboard.html")
async def dashboard(request: web.Request) -> dict[str, Any]:
    await _user(request)
    app = request.app
    tz = ZoneInfo(app[CONFIG].broadcasts.timezone)
    midnight = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    numbers = await app[STORE].call(_dashboard_numbers, midnight)
    counts = await app[STORE].call(outbox_db.counts)
    session = await get_session(request)
    return numbers | {
        "modem": app[HARDWARE].modem.info,
        "outbox": {"queued": counts["queued"] + counts["sending"], "failed": counts["failed"]},
        "upcoming": [
            {"when": _when(app, a["next_play_at"]), "title": a["text"] or "(ghi âm)"} for a in numbers["upcoming"]
        ],
        "plays": [
            {"when": _when(app, p["started_at"] or p["planned_at"]), "result": p["result"]} for p in numbers["plays"]
        ],
        "balance": session.pop("balance", None),
    }


@routes.post("/balance")
async def balance(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    await _form(request)
    session = await get_session(request)
    try:
        session["balance"] = await request.app[HARDWARE].modem.ussd("*101#")
    except LoaError as e:
        await _flash(request, f"Không xem được số dư: {e.message}", "error")
    await _audit(request, user, "USSD *101#")
    raise web.HTTPSeeOther("/")


# ---- send ----


async def _send_context(
    request: web.Request, user: User, form: Any = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    hamlets = [h.name for h in await request.app[STORE].call(residents_db.hamlets)]
    if user.is_head:
        hamlets = [h for h in hamlets if h == user.hamlet]
    chosen = form.getall("hamlets", []) if form is not None else []
    return {
        "hamlets": hamlets,
        "roles": people.ROLES,
        "role_names": {
            "resident": "Người dân",
            "hamlet_head": "Trưởng thôn",
            "health_worker": "Y tế thôn",
            "official": "Cán bộ",
        },
        "form": {
            "text": form.get("text", "") if form is not None else "",
            "numbers": form.get("numbers", "") if form is not None else "",
            "encoding": form.get("encoding", "auto") if form is not None else "auto",
            "hamlets": chosen,
            "roles": form.getall("roles", []) if form is not None else [],
        },
        "errors": errors or {},
        "price": request.app[CONFIG].broadcasts.segment_price,
    }


@routes.get("/send")
@aiohttp_jinja2.template("send.html")
async def send_page(request: web.Request) -> dict[str, Any]:
    user = await _user(request)
    return await _send_context(request, user)


@routes.post("/send")
async def send(request: web.Request) -> web.StreamResponse:
    user = await _user(request)
    form = await _form(request)
    text = str(form.get("text", "")).strip()
    target: dict[str, Any] = {}
    if form.getall("hamlets", []):
        target["hamlets"] = [str(h) for h in form.getall("hamlets")]
    if form.getall("roles", []):
        target["roles"] = [str(r) for r in form.getall("roles")]
    numbers = [n.strip() for n in str(form.get("numbers", "")).replace(",", "\n").splitlines() if n.strip()]
    if numbers:
        target["numbers"] = numbers
    if form.get("encoding") == "gsm7":
        from gateway.sms.encoding import fold

        text = fold(text)
    errors: dict[str, str] = {}
    if not text:
        errors["text"] = "Hãy viết nội dung tin nhắn."
    if not target:
        errors["to"] = "Hãy chọn thôn, vai trò hoặc nhập số điện thoại."
    b = request.app[BROADCASTS]
    if not errors:
        try:
            await request.app[STORE].call(
                people.check_own_target if "numbers" not in target else _own_numbers, user, target
            )
            created = await request.app[STORE].call(b.create_reminder, {"text": text, "to": target}, b.clock())
            runs = await request.app[STORE].call(b.run_due, b.clock())
            b.outbox.wake()
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["to" if field in ("to", "hamlet", "group") else "text"] = e.message
        else:
            run = next((r for r in runs if r["reminder"] == created["id"]), {"queued": 0})
            await _audit(request, user, "send SMS", {"to": target, "text": text, "queued": run["queued"]})
            note = f"Đã xếp {run['queued']} tin vào hàng gửi."
            if run.get("deferred"):
                note += " Đang giờ nghỉ đêm: tin sẽ đi lúc sáng."
            if run.get("capped") or run.get("opted_out"):
                note += (
                    f" Bỏ qua {run.get('capped', 0)} số đã đủ tin trong ngày, {run.get('opted_out', 0)} số đã nhắn HUY."
                )
            await _flash(request, note)
            raise web.HTTPSeeOther("/send")
    context = await _send_context(request, user, form, errors)
    return aiohttp_jinja2.render_template("send.html", request, context, status=400)


def _own_numbers(db: Any, user: User, target: dict[str, Any]) -> None:
    if user.is_head:
        people.check_own_target(
            db, user, {k: v for k, v in target.items() if k != "numbers"} or {"hamlets": [user.hamlet]}
        )
        people.check_own_numbers(db, user, [people.valid_number(n)[0] for n in target["numbers"]])


# ---- questions ----


@routes.get("/questions")
@aiohttp_jinja2.template("questions.html")
async def questions_page(request: web.Request) -> dict[str, Any]:
    await _user(request, "admin", "official")
    open_ = await request.app[STORE].call(residents_db.list_questions, "open", 200)
    answered = await request.app[STORE].call(residents_db.list_questions, "answered", 50)
    for q in [*open_, *answered]:
        q["when"] = _when(request.app, q["created_at"])
    return {"open": open_, "answered": answered}


@routes.post("/questions/{id:\\d+}/answer")
async def answer(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    form = await _form(request)
    text = str(form.get("text", "")).strip()
    question_id = int(request.match_info["id"])
    if not text:
        await _flash(request, "Câu trả lời trống: chưa gửi.", "error")
    else:
        try:
            result = await request.app[RESIDENTS].answer_question(question_id, text)
        except LoaError as e:
            await _flash(request, e.message, "error")
        else:
            await _audit(request, user, "answer question", {"question": question_id, "text": text})
            await _flash(request, f"Đã gửi câu trả lời ({result['segments']} tin nhắn).")
    raise web.HTTPSeeOther("/questions")


# ---- announcements ----


@routes.get("/announcements")
@aiohttp_jinja2.template("announcements.html")
async def announcements_page(request: web.Request) -> dict[str, Any]:
    await _user(request, "admin", "official")
    a = request.app[ANNOUNCER]
    items = await request.app[STORE].call(a.all)
    for item in items:
        item["next"] = _when(request.app, item["next_play_at"])
    log_rows = await request.app[STORE].call(a.log, 50)
    for row in log_rows:
        row["planned"] = _when(request.app, row["planned_at"])
        row["started"] = _when(request.app, row["started_at"])
    hamlets = [h.name for h in await request.app[STORE].call(residents_db.hamlets)]
    return {"items": items, "log": log_rows, "hamlets": hamlets, "errors": {}, "form": {}}


@routes.post("/announcements")
async def create_announcement(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    form = await _form(request)
    a = request.app[ANNOUNCER]
    body: dict[str, Any] = {
        "priority": str(form.get("priority", "thuong")),
        "repeat": int(str(form.get("repeat", "2")) or 2),
        "zones": [str(z) for z in form.getall("zones", [])],
    }
    clip = form.get("clip")
    if isinstance(clip, web.FileField) and clip.filename:
        data = clip.file.read()
        try:
            body["clip"] = await a.renderer.store_clip(data)
        except LoaError as e:
            await _flash(request, e.message, "error")
            raise web.HTTPSeeOther("/announcements") from None
    else:
        body["text"] = str(form.get("text", ""))
    when = str(form.get("when", "")).strip()
    days = [str(d) for d in form.getall("days", [])]
    if days:
        body["when"] = {"weekly": {"days": days, "time": str(form.get("time", "07:00"))}}
    elif when:
        body["when"] = {"at": when}
    try:
        made = await a.create(body)
    except LoaError as e:
        await _flash(request, e.message, "error")
    else:
        await _audit(request, user, "create announcement", {"id": made["id"], **body})
        await _flash(request, f"Đã tạo bản nháp số {made['id']} ({made['seconds']:.0f} giây). Nghe thử rồi duyệt.")
    raise web.HTTPSeeOther("/announcements")


@routes.post("/announcements/{id:\\d+}/{action:approve|cancel}")
async def decide(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    await _form(request)
    a = request.app[ANNOUNCER]
    announcement_id = int(request.match_info["id"])
    try:
        if request.match_info["action"] == "approve":
            await a.approve_now(announcement_id)
            await _flash(request, f"Đã duyệt thông báo số {announcement_id}.")
        else:
            await request.app[STORE].call(a.cancel, announcement_id)
            await _flash(request, f"Đã huỷ thông báo số {announcement_id}.")
    except LoaError as e:
        await _flash(request, e.message, "error")
    else:
        await _audit(request, user, f"{request.match_info['action']} announcement", {"id": announcement_id})
    raise web.HTTPSeeOther("/announcements")


@routes.get(r"/audio/{key:[0-9a-f]{24}}.mp3")
async def audio(request: web.Request) -> web.StreamResponse:
    await _user(request)
    return web.FileResponse(await request.app[ANNOUNCER].renderer.preview(request.match_info["key"]))


# ---- contacts ----


@routes.get("/contacts")
@aiohttp_jinja2.template("contacts.html")
async def contacts_page(request: web.Request) -> dict[str, Any]:
    user = await _user(request)
    contacts = await request.app[STORE].call(people.list_contacts)
    if user.is_head:
        contacts = [c for c in contacts if c["hamlet"] == user.hamlet]
    session = await get_session(request)
    return {"contacts": contacts, "report": session.pop("import_report", None)}


@routes.post("/contacts/import")
async def import_contacts(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    form = await _form(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        await _flash(request, "Hãy chọn tệp CSV.", "error")
        raise web.HTTPSeeOther("/contacts")
    try:
        report = await request.app[STORE].call(people.import_csv, upload.file.read(), time.time())
    except LoaError as e:
        await _flash(request, e.message, "error")
    else:
        session = await get_session(request)
        session["import_report"] = {
            "imported": report.imported,
            "merged": report.merged,
            "converted": report.converted,
            "rejected": [{"line": r["line"], "reason": r["reason"]} for r in report.rejected],
        }
        await _audit(request, user, "import contacts", {"imported": report.imported, "rejected": len(report.rejected)})
    raise web.HTTPSeeOther("/contacts")


# ---- simple lists: alerts, procedures, users, audit ----


async def _alerts_context(
    request: web.Request, form: Any = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    b = request.app[BROADCASTS]
    ids = await request.app[STORE].call(
        lambda db: [r[0] for r in db.execute("select id from alerts order by id desc limit 20")]
    )
    boards = [await request.app[STORE].call(b.board, i) for i in ids]
    for board in boards:
        for r in board["recipients"]:
            for k in ("confirmed_at", "resent_at", "escalated_at"):
                r[k] = _when(request.app, r[k])
    hamlets = [h.name for h in await request.app[STORE].call(residents_db.hamlets)]
    typed = {
        "text": str(form.get("text", "")) if form else "",
        "hamlets": form.getall("hamlets", []) if form else [],
        "heads_only": bool(form.get("heads_only")) if form else True,
        "minutes": str(form.get("minutes", ""))
        if form
        else str(int(request.app[CONFIG].broadcasts.alert_confirm_minutes)),
        "escalate_to": str(form.get("escalate_to", "")) if form else request.app[CONFIG].broadcasts.alert_escalate_to,
    }
    return {"boards": boards, "hamlets": hamlets, "form": typed, "errors": errors or {}}


@routes.get("/alerts")
@aiohttp_jinja2.template("alerts.html")
async def alerts_page(request: web.Request) -> dict[str, Any]:
    await _user(request, "admin", "official")
    return await _alerts_context(request)


@routes.post("/alerts")
async def send_alert(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    form = await _form(request)
    target: dict[str, Any] = {"hamlets": [str(h) for h in form.getall("hamlets", [])]}
    if form.get("heads_only"):
        target["roles"] = ["hamlet_head"]
    body: dict[str, Any] = {"text": str(form.get("text", "")), "to": target,
                            "escalate_to": str(form.get("escalate_to", "")).strip()}  # fmt: skip
    errors: dict[str, str] = {}
    try:
        body["confirm_minutes"] = float(str(form.get("minutes", "")).strip() or "30")
    except ValueError:
        errors["text"] = "Số phút chờ phải là một số."
    if not target["hamlets"]:
        errors["to"] = "Hãy chọn ít nhất một thôn."
    if body["escalate_to"]:
        try:
            people.valid_number(body["escalate_to"])
        except LoaError as e:
            errors["escalate_to"] = e.message
    b = request.app[BROADCASTS]
    if not errors:
        try:
            created = await request.app[STORE].call(b.create_alert, body, b.clock())
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["to" if field == "to" else "text"] = e.message
        else:
            b.outbox.wake()
            if form.get("loudspeaker"):
                announcer = request.app[ANNOUNCER]
                made = await announcer.create(
                    {"text": body["text"], "priority": "khan_cap", "zones": target["hamlets"]}
                )
                await announcer.approve_now(made["id"])
            await _audit(request, user, "send alert", body | {"id": created["id"]})
            await _flash(request, f"Đã gửi cảnh báo {created['id']} tới {created['recipients']} người.")
            raise web.HTTPSeeOther("/alerts")
    context = await _alerts_context(request, form, errors)
    return aiohttp_jinja2.render_template("alerts.html", request, context, status=400)


@routes.get("/procedures")
@aiohttp_jinja2.template("procedures.html")
async def procedures_page(request: web.Request) -> dict[str, Any]:
    await _user(request, "admin", "official")
    return {"procedures": await request.app[STORE].call(kb.all_procedures), "errors": {}}


@routes.post("/procedures/{key:[A-Za-z]{2,3}}")
async def save_procedure(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin", "official")
    form = await _form(request)
    key = request.match_info["key"].upper()
    raw: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "synonyms": [x.strip() for x in str(form.get("synonyms", "")).split(",") if x.strip()],
        "answer": str(form.get("answer", "")),
        "answer_plain": str(form.get("answer_plain", "")),
        "checked_on": str(form.get("checked_on", "")),
        "checked_by": str(form.get("checked_by", "")),
        "status": "checked" if form.get("checked") else "unconfirmed",
    }
    try:
        procedure = kb.parse(raw, key=key)
    except LoaError as e:
        # show the page again with what was typed, the error beside its field
        procedures = await request.app[STORE].call(kb.all_procedures)
        typed = [kb.Procedure(key, raw["name"], tuple(raw["synonyms"]), raw["answer"], raw["answer_plain"],
                              raw["checked_on"], raw["checked_by"], raw["status"]) if p.key == key else p
                 for p in procedures]  # fmt: skip
        field = e.details.get("field", "other")
        errors = {key: {field if field in ("answer", "answer_plain") else "other": e.message}}
        context = {"procedures": typed, "errors": errors}
        return aiohttp_jinja2.render_template("procedures.html", request, context, status=400)
    residents = request.app[RESIDENTS]
    await request.app[STORE].call(kb.upsert, procedure, residents.clock())
    await residents.reload()
    await _audit(request, user, "edit procedure", raw | {"key": key})
    await _flash(request, f"Đã lưu câu trả lời {key}.")
    raise web.HTTPSeeOther(f"/procedures#procedure-{key}")


@routes.get("/users")
@aiohttp_jinja2.template("users.html")
async def users_page(request: web.Request) -> dict[str, Any]:
    await _user(request, "admin")
    session = await get_session(request)
    return {
        "users": await request.app[STORE].call(accounts.users),
        "token": session.pop("token", None),
        "roles": ROLE_NAMES,
        "hamlets": [h.name for h in await request.app[STORE].call(residents_db.hamlets)],
    }


@routes.post("/users")
async def add_user(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin")
    form = await _form(request)
    try:
        made = await request.app[STORE].call(
            accounts.add_user,
            str(form.get("username", "")),
            str(form.get("password", "")),
            str(form.get("role", "")),
            str(form.get("hamlet", "")) or None,
            time.time(),
        )
    except LoaError as e:
        await _flash(request, e.message, "error")
    else:
        await _audit(request, user, "add user", {"username": made.username, "role": made.role})
        await _flash(request, f"Đã tạo tài khoản {made.username}.")
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{id:\\d+}/token")
async def new_token(request: web.Request) -> web.StreamResponse:
    user = await _user(request, "admin")
    await _form(request)
    target = int(request.match_info["id"])
    session = await get_session(request)
    session["token"] = await request.app[STORE].call(accounts.new_token, target, "console", time.time())
    await _audit(request, user, "new API token", {"user_id": target})
    raise web.HTTPSeeOther("/users")


@routes.get("/audit")
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    await _user(request, "admin")
    rows = await request.app[STORE].call(accounts.audit_log, 300)
    for r in rows:
        r["when"] = _when(request.app, r["at"])
    return {"rows": rows}
