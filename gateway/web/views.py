"""The console's own pages: login and logout, users and their API tokens, the audit log."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from gateway.core import commune
from gateway.core.errors import InvalidRequest, LoaError, LoginRefused
from gateway.core.keys import CLOCK, STORE
from gateway.web import accounts, pages
from gateway.web.accounts import ROLE_NAMES
from gateway.web.clients import client_address
from gateway.web.keys import CONSOLE, LOGINS, WEB

routes = web.RouteTableDef()
log = logging.getLogger(__name__)
AUDIT_PAGE = 100


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    app.on_startup.append(_first_run)  # after every cleanup_ctx: the store is open


async def _first_run(app: web.Application) -> None:
    if await app[STORE].call(accounts.count_users) == 0:
        log.warning(
            "no account yet: nobody can log in to the console. Create the first one with "
            "`loa user add <name> --role admin` (add --config as for loa run); `loa user add --help` explains roles"
        )


@routes.get("/login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {
        "username": "",
        "error": None,
        "next": pages.local_path(request.query.get("next", "/")),
        "no_accounts": await request.app[STORE].call(accounts.count_users) == 0,
    }


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await pages.form(request)
    username = str(form.get("username", ""))
    config = request.app[WEB]
    gate = request.app[LOGINS]
    address = client_address(request, config.proxies)
    store, now = request.app[STORE], request.app[CLOCK]()
    try:
        with gate.enter(address):
            attempt = await store.call(
                accounts.login_attempt, username, address, now, config.lock_after,
                config.lock_minutes * 60, request.app[CONSOLE].tz,
            )  # fmt: skip
            # argon2 on a worker thread, not the store's: /healthz and every send go on meanwhile;
            # a few at once, whoever asks (each takes 64 MiB)
            async with gate.argon2:
                ok = await asyncio.to_thread(accounts.verify, attempt.password_hash, str(form.get("password", "")))
            user = await store.call(accounts.login_result, attempt, ok, now)
    except LoginRefused as e:
        await _refused(request, username, address, e, now)
        context = {"username": username, "error": e.message, "next": pages.local_path(str(form.get("next", "/"))),
                   "no_accounts": await store.call(accounts.count_users) == 0}  # fmt: skip
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    session = await new_session(request)
    session["sid"] = await store.call(accounts.start_session, user.id, now, config.session_hours * 3600)
    session["csrf"] = secrets.token_urlsafe(24)
    await store.call(accounts.audit, user.username, "đăng nhập", "", now)
    raise web.HTTPSeeOther(pages.local_path(str(form.get("next", "/"))))


async def _refused(request: web.Request, username: str, address: str, e: LoginRefused, now: float) -> None:
    """A wrong password is written to the audit log; an address refused without a check (locked,
    too many at once) is counted, and written once a minute with its count."""
    store = request.app[STORE]
    if not e.details.get("throttled"):
        await store.call(accounts.audit, username, "đăng nhập bị từ chối", e.message, now)
        return
    count = request.app[LOGINS].note_refusal(address, now)
    if count is not None:
        detail = f"{e.message} ({count} lần bị chặn từ {address} trong phút qua)"
        await store.call(accounts.audit, username, "đăng nhập bị chặn", detail, now)


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await pages.form(request)
    session = await get_session(request)
    if isinstance(session.get("sid"), str):
        await request.app[STORE].call(accounts.end_session, session["sid"])
    session.invalidate()
    raise web.HTTPSeeOther("/login")


@routes.get("/users")
@aiohttp_jinja2.template("users.html")
async def users_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin")
    session = await get_session(request)
    config, store = request.app[WEB], request.app[STORE]
    rows = await store.call(accounts.users, request.app[CLOCK](), config.lock_after, config.lock_minutes * 60)
    for row in rows:
        row["locked"] = pages.when(request, row["locked_until"])
    tokens = await store.call(accounts.tokens)
    for token in tokens:
        token["when"] = pages.when(request, token["created_at"])
    return {
        "users": rows,
        "tokens": tokens,
        "token": session.pop("token", None),
        "roles": ROLE_NAMES,
        "hamlets": [h.name for h in await store.call(commune.hamlets)],
    }


@routes.post("/users")
async def add_user(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin")
    form = await pages.form(request)

    async def work() -> pages.Done:
        password_hash = await asyncio.to_thread(accounts.hash_password, str(form.get("password", "")))
        made = await request.app[STORE].call(
            accounts.insert_user,
            str(form.get("username", "")),
            password_hash,
            str(form.get("role", "")),
            str(form.get("hamlet", "")) or None,
            request.app[CLOCK](),
            str(form.get("number", "")),
        )
        return pages.Done(
            f"Đã tạo tài khoản {made.username}.", "thêm tài khoản", {"username": made.username, "role": made.role}
        )

    await pages.act(request, user, "/users", work)


@routes.post("/users/{id:\\d{1,9}}/{action:token|unlock|disable|enable|password|number}")
async def user_action(request: web.Request) -> web.StreamResponse:
    admin = await pages.user(request, "admin")
    form = await pages.form(request)
    store = request.app[STORE]
    target = await store.call(accounts.get, int(request.match_info["id"]))
    if target is None:
        raise web.HTTPNotFound(text="Không có tài khoản này.", content_type="text/plain")
    action = request.match_info["action"]
    names = {"token": "tạo mã API", "unlock": "mở khoá đăng nhập", "disable": "khoá tài khoản",
             "enable": "mở lại tài khoản", "password": "đặt lại mật khẩu", "number": "sửa số điện thoại"}  # fmt: skip

    async def work() -> pages.Done:
        if action == "token":
            session = await get_session(request)
            session["token"] = await store.call(accounts.new_token, target.id, "console", request.app[CLOCK]())
            done = f"Đã tạo mã API cho {target.username}."
        elif action == "unlock":
            await store.call(accounts.unlock, target.id)
            done = f"Đã mở khoá {target.username}."
        elif action in ("disable", "enable"):
            if target.id == admin.id:
                raise InvalidRequest("Không tự khoá tài khoản của mình được", field="id")
            await store.call(accounts.set_disabled, target.id, action == "disable")
            done = f"Đã {'khoá' if action == 'disable' else 'mở lại'} tài khoản {target.username}."
        elif action == "number":
            await store.call(accounts.set_number, target.id, str(form.get("number", "")))
            done = f"Đã lưu số điện thoại của {target.username}."
        else:
            password_hash = await asyncio.to_thread(accounts.hash_password, str(form.get("password", "")))
            await store.call(accounts.set_password, target.id, password_hash)
            done = f"Đã đặt mật khẩu mới cho {target.username}; mọi phiên đăng nhập cũ đã kết thúc."
        return pages.Done(done, names[action], {"username": target.username})

    await pages.act(request, admin, "/users", work)


@routes.post("/tokens/{id:\\d{1,9}}/revoke")
async def revoke_token(request: web.Request) -> web.StreamResponse:
    admin = await pages.user(request, "admin")
    await pages.form(request)
    token_id = int(request.match_info["id"])

    async def work() -> pages.Done:
        await request.app[STORE].call(accounts.revoke_token, token_id)
        return pages.Done(
            f"Đã thu hồi mã API số {token_id}; nó không dùng được nữa.", "thu hồi mã API", {"id": token_id}
        )

    await pages.act(request, admin, "/users", work)


@routes.get("/account")
@aiohttp_jinja2.template("account.html")
async def account_page(request: web.Request) -> dict[str, Any]:
    """Everyone's own page: who they are, and a new password."""
    await pages.user(request)
    return {"errors": {}}


@routes.post("/account/password")
async def change_own_password(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    form = await pages.form(request)
    store, config, now = request.app[STORE], request.app[WEB], request.app[CLOCK]()
    old, new, again = (str(form.get(k, "")) for k in ("old", "new", "again"))
    errors: dict[str, str] = {}
    new_hash = ""
    wrong = await _current_password(request, user.username, old, now)
    if wrong:
        errors["old"] = wrong
    elif new != again:
        errors["again"] = "Hai lần nhập mật khẩu mới không giống nhau."
    else:
        try:
            new_hash = await asyncio.to_thread(accounts.hash_password, new)
        except LoaError as e:
            errors["new"] = pages.plain(e.message)
    if errors:
        return aiohttp_jinja2.render_template("account.html", request, {"errors": errors}, status=400)
    # every other session of this account ends (a cookie someone else holds); this one goes on
    await store.call(accounts.set_password, user.id, new_hash)
    session = await get_session(request)
    session["sid"] = await store.call(accounts.start_session, user.id, now, config.session_hours * 3600)
    await pages.audit(request, user, "đổi mật khẩu của mình")
    await pages.flash(request, "Đã đổi mật khẩu. Các phiên đăng nhập khác của tài khoản này đã kết thúc.")
    raise web.HTTPSeeOther("/account")


async def _current_password(request: web.Request, username: str, password: str, now: float) -> str | None:
    """The current password checked as a login is: counted, locked after [web] lock_after wrong ones
    from this address, a few at once; a stolen session cannot guess it without limit. None: right."""
    config, store, gate = request.app[WEB], request.app[STORE], request.app[LOGINS]
    address = client_address(request, config.proxies)
    try:
        with gate.enter(address):
            attempt = await store.call(
                accounts.login_attempt, username, address, now, config.lock_after,
                config.lock_minutes * 60, request.app[CONSOLE].tz,
            )  # fmt: skip
            async with gate.argon2:
                ok = await asyncio.to_thread(accounts.verify, attempt.password_hash, password)
            await store.call(accounts.login_result, attempt, ok, now)
    except LoginRefused as e:
        await _refused(request, username, address, e, now)
        return e.message if e.details.get("throttled") else "Mật khẩu hiện tại không đúng."
    return None


@routes.get("/audit")
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin")
    q = request.query
    before = q.get("before", "")
    older = int(before) if before.isdigit() and len(before) <= 12 else None
    who, action, day = q.get("user", "")[:64], q.get("action", "")[:100].strip(), q.get("day", "")[:10]
    since = until = None
    if day:
        try:
            start = datetime.combine(date.fromisoformat(day), time.min, request.app[CONSOLE].tz)
        except ValueError:
            raise InvalidRequest("Ngày phải có dạng 2026-12-07", field="day") from None
        since, until = start.timestamp(), (start + timedelta(days=1)).timestamp()
    store = request.app[STORE]

    def page(db: Any) -> list[dict[str, Any]]:
        return accounts.audit_log(db, AUDIT_PAGE, older, user=who, action=action, since=since, until=until)

    rows = await store.call(page)
    for r in rows:
        r["when"] = pages.when(request, r["at"])
        r["action"] = audit_action(r["action"])
        if r["user"] == accounts.SYSTEM.username:
            r["user"] = SYSTEM_NAME
        r["detail"] = audit_detail(r["detail"])
    filters = {"user": who, "action": action, "day": day}
    more = urlencode({**{k: v for k, v in filters.items() if v}, "before": rows[-1]["id"]}) if rows else ""
    return {
        "rows": rows,
        "next": more if len(rows) == AUDIT_PAGE else None,
        "filters": filters,
        "people": [
            {"value": p, "label": SYSTEM_NAME if p == accounts.SYSTEM.username else p}
            for p in await store.call(accounts.audit_people)
        ],
        "paged": older is not None,
    }


SYSTEM_NAME = "hệ thống (mã API trong cấu hình)"
# the audit log's words as a person reads them: API calls and the keys of the details in Vietnamese
_METHODS = {"POST": "tạo / gửi", "PUT": "sửa", "DELETE": "xoá"}
_WORDS = {
    "messages": "tin nhắn", "contacts": "danh bạ", "hamlets": "thôn", "groups": "nhóm", "reminders": "nhắc tin",
    "alerts": "cảnh báo", "announcements": "thông báo loa", "clips": "ghi âm", "procedures": "thủ tục",
    "questions": "câu hỏi", "examples": "ví dụ", "not-questions": "cụm từ mời, thông báo", "ussd": "USSD",
    "approve": "duyệt", "cancel": "huỷ", "answer": "trả lời", "import": "nhập", "not-a-procedure": "không phải thủ tục",
    "id": "số", "question": "câu hỏi", "procedure": "thủ tục", "text": "nội dung", "to": "gửi tới", "queued": "đã xếp",
    "username": "tài khoản", "role": "vai trò", "key": "mã", "name": "tên", "synonyms": "cách hỏi",
    "situations": "tình huống", "answer_plain": "trả lời không dấu", "checked_on": "ngày kiểm tra",
    "checked_by": "người kiểm tra", "status": "trạng thái", "items": "cụm từ", "example": "ví dụ",
    "imported": "đã nhập", "rejected": "bị từ chối", "repeat": "số lần đọc", "priority": "ưu tiên", "zones": "thôn",
    "when": "lúc", "escalate_to": "báo cho", "confirm_minutes": "phút chờ", "loudspeaker": "loa",
    "hamlet": "thôn", "roles_": "vai trò", "numbers": "số điện thoại",
}  # fmt: skip


def audit_action(action: str) -> str:
    """ "API PUT /api/v1/procedures/KS" → "Qua API: sửa thủ tục KS"."""
    method, _, path = action.partition(" ")[2].partition(" ")
    if not action.startswith("API ") or method not in _METHODS:
        return action
    parts = [p for p in path.removeprefix("/api/v1/").split("/") if p]
    return f"Qua API: {_METHODS[method]} " + " ".join(_WORDS.get(p, p) for p in parts)


def audit_detail(detail: str) -> str:
    """A JSON detail as "tên: giá trị" pairs, nested ones in words too; anything else as written."""
    try:
        found = json.loads(detail) if detail.startswith("{") else None
    except json.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        return pages.vi(detail)
    return _said(found)


_RULES = {"weekly": "hằng tuần", "monthly": "hằng tháng", "at": "lúc", "days": "các ngày", "day": "ngày",
          "time": "giờ", "now": "ngay", "cron": "lịch", "subscribers": "cả người đăng ký", "new": "tin mới",
          "batch": "lần gửi", "cancelled": "đã huỷ", "clip": "ghi âm", "starts_on": "từ ngày",
          "ends_on": "đến ngày", "merged": "đã gộp", "number": "số"}  # fmt: skip
_DAYS = {"mon": "thứ Hai", "tue": "thứ Ba", "wed": "thứ Tư", "thu": "thứ Năm", "fri": "thứ Sáu", "sat": "thứ Bảy",
         "sun": "Chủ nhật"}  # fmt: skip


def _said(value: Any) -> str:
    """A stored value in words: lists joined, objects as "tên: giá trị", stored words in Vietnamese."""
    if isinstance(value, dict):
        return " · ".join(f"{_WORDS.get(k) or _RULES.get(k, k)}: {_said(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_said(v) for v in value)
    if isinstance(value, bool):
        return "có" if value else "không"
    if value is None:
        return "—"
    text = str(value)
    return _DAYS.get(text) or _RULES.get(text) or pages.vi(text)
