"""The console's plumbing: encrypted sessions, CSRF, who is logged in, flashes, templates, audit."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode, urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import get_session
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from cryptography import fernet

from gateway.core.errors import InvalidRequest, LoaError
from gateway.core.keys import CLOCK, STORE
from gateway.core.principal import User
from gateway.web import accounts
from gateway.web.accounts import ROLE_NAMES
from gateway.web.config import WebConfig
from gateway.web.console import Console
from gateway.web.http import ERROR_PAGE, OFFICIALS
from gateway.web.keys import CONSOLE

log = logging.getLogger(__name__)
USER = web.RequestKey("user", User)


# what the console shows for the words the database keeps (statuses, priorities, roles, relay states)
VI = {
    "draft": "Bản nháp", "scheduled": "Đã lên lịch", "done": "Đã xong", "cancelled": "Đã huỷ", "failed": "Lỗi",
    "active": "Đang chạy", "played": "Đã phát", "late": "Phát muộn", "missed": "Bị lỡ", "interrupted": "Bị ngắt",
    "unknown": "Không rõ (mất điện khi đang phát)", "playing": "Đang phát", "open": "Đang chờ xác nhận",
    "confirmed": "Đã xác nhận", "closed": "Đã đóng", "answered": "Đã trả lời", "queued": "Chờ gửi",
    "sending": "Đang gửi",
    "sent": "Đã gửi", "delivered": "Đã tới máy", "thuong": "Thường", "uu_tien": "Ưu tiên", "khan_cap": "Khẩn cấp",
    "resident": "Người dân", "hamlet_head": "Trưởng thôn", "health_worker": "Y tế thôn", "official": "Cán bộ",
    "on→off": "bật → tắt", "on→off (at start)": "bật → tắt (khi khởi động lại)", "on": "bật", "off": "tắt",
    "off (at start)": "tắt (khi khởi động lại)", "capped": "Vượt hạn mức tin trong ngày",
}  # fmt: skip


def vi(word: object) -> str:
    """The Vietnamese for a stored word; anything else as it is."""
    text = "" if word is None else str(word)
    return VI.get(text, text)


# errors carry an English gloss for the API's callers, "(invalid number)": people read them without it
_GLOSS = re.compile(r"\s*\((?=[^)]*[a-z])[\x20-\x7e]*\)")


def plain(text: object) -> str:
    """An error or notice as a person reads it: without the English glosses in parentheses."""
    return _GLOSS.sub("", "" if text is None else str(text)).strip()


# a device's or library's English error ("[Errno 2] could not open port …") as the officials read it
_DEVICE = (
    (re.compile(r"errno 13|permission denied", re.I),
     "Không có quyền mở cổng modem: tài khoản chạy Loa cần ở nhóm dialout."),
    (re.compile(r"errno 2\b|could not open port|no such file|not found", re.I),
     "Không mở được cổng modem: modem đã bị rút ra hoặc cắm sang cổng khác."),
    (re.compile(r"read failed|disconnected|device reports|broken pipe|errno 5\b|input/output", re.I),
     "Modem ngừng trả lời: bị rút ra, mất điện hoặc đang khởi động lại."),
    (re.compile(r"timeout|timed out", re.I), "Modem không trả lời kịp."),
    (re.compile(r"\bpin\b|puk", re.I), "SIM đang khoá bằng mã PIN: hãy mở khoá SIM trên điện thoại rồi cắm lại."),
    (re.compile(r"cms error|cme error", re.I),
     "Nhà mạng hoặc modem từ chối tin (có thể hết tiền, hết sóng hoặc sai số)."),
    (re.compile(r"connection refused|cannot connect|connect call failed", re.I),
     "Không kết nối được tới thiết bị hoặc máy chủ nhà mạng."),
)  # fmt: skip


def device_error(text: object) -> str:
    """An error kept from a device or a library, said in Vietnamese: known ones by what to do,
    Vietnamese ones without their English gloss, other English ones as a pointer to the log."""
    raw = "" if text is None else str(text)
    said = plain(raw)
    if said and not said.isascii():
        return said
    for pattern, words in _DEVICE:
        if pattern.search(raw):
            return words
    return "Lỗi của thiết bị (chi tiết trong nhật ký hệ thống)." if raw else ""


class KeptKeyStorage(EncryptedCookieStorage):
    """Sessions under a key made once and kept in a file beside the database (when [web] secret is not
    set), so that a restart does not log everyone out; the file is read or made at start."""

    def __init__(self, key_file: Path, **kwargs: Any) -> None:
        super().__init__(secrets.token_bytes(32), **kwargs)
        self.key_file = key_file

    async def load_key(self, app: web.Application) -> AsyncIterator[None]:
        try:
            key = await asyncio.to_thread(kept_key, self.key_file)
        except OSError as e:
            # a read-only disk: the store says so next, by name; the console is not what should fail
            log.warning("cannot keep the session key in %s (%s): a new key for this run", self.key_file, e)
            key = secrets.token_bytes(32)
        self._fernet = fernet.Fernet(base64.urlsafe_b64encode(key))  # the library keeps its key there
        yield


def kept_key(path: Path) -> bytes:
    """32 random bytes in `path` (mode 600), made the first time; a damaged file is replaced."""
    try:
        key = base64.urlsafe_b64decode(path.read_bytes().strip())
        if len(key) == 32:
            return key
        log.warning("session key %s is damaged: making a new one (everyone logs in again)", path)
    except FileNotFoundError:
        log.info("no session key yet: making %s", path)
    except ValueError:
        log.warning("session key %s is damaged: making a new one (everyone logs in again)", path)
    key = secrets.token_bytes(32)
    path.parent.mkdir(parents=True, exist_ok=True)  # a first start: the database's folder is not made yet
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(base64.urlsafe_b64encode(key))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return key


def setup(app: web.Application, config: WebConfig, console: Console, templates: Sequence[str], key_file: Path) -> None:
    """Sessions and templates; `templates` names the packages whose templates/ folder holds pages
    (others add theirs with `add_templates`); without [web] secret the session key is kept in `key_file`."""
    app[CONSOLE] = console
    options: dict[str, Any] = dict(
        cookie_name="loa_session",
        httponly=True,
        # Lax, not Strict: with Strict a link followed from elsewhere arrives without the cookie,
        # and the login page it lands on would replace the open session (a cross-site logout).
        # Forms are guarded by the CSRF token, not by the cookie's SameSite.
        samesite="Lax",
        max_age=int(config.session_hours * 3600),
    )
    if config.secret:
        setup_session(app, EncryptedCookieStorage(base64.urlsafe_b64decode(config.secret), **options))
    else:
        storage = KeptKeyStorage(key_file, **options)
        app.cleanup_ctx.append(storage.load_key)
        setup_session(app, storage)
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(package, "templates") for package in templates]),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        filters={"vi": vi, "plain": plain, "device_error": device_error},
        context_processors=[_context],
    )
    app.router.add_static("/static", str(Path(__file__).parent / "static"))
    app[ERROR_PAGE] = error_page


async def error_page(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """A console page's error as a page with the navigation: a stale link, a row changed meanwhile."""
    title = {404: "Không tìm thấy", 409: "Đã thay đổi", 403: "Không được phép"}.get(status, "Không làm được")
    context = {"message": plain(message), "title": title}
    return aiohttp_jinja2.render_template("error.html", request, context, status=status)


def add_templates(app: web.Application, package: str) -> None:
    """A package's templates/ folder, searched after those already there."""
    loader = aiohttp_jinja2.get_env(app).loader
    assert isinstance(loader, jinja2.ChoiceLoader)
    loader.loaders = [*loader.loaders, jinja2.PackageLoader(package, "templates")]


async def session_user(request: web.Request) -> User | None:
    """The logged-in user, looked up once per request: the context processor (which runs before
    the handler) and the handler's own check share it."""
    if USER in request:
        return request[USER]
    session = await get_session(request)
    session_id = session.get("sid")
    user = None
    if isinstance(session_id, str):
        user = await request.app[STORE].call(accounts.session_user, session_id, request.app[CLOCK]())
    if user is not None:
        request[USER] = user
    return user


async def _context(request: web.Request) -> dict[str, Any]:
    session = await get_session(request)
    user = await session_user(request)
    flashes = session.pop("flashes", [])
    return {
        "user": user,
        "role_name": ROLE_NAMES.get(user.role, "") if user else "",
        "csrf": await csrf_token(request),
        "commune": request.app[CONSOLE].commune,
        "flashes": flashes,
    }


async def csrf_token(request: web.Request) -> str:
    session = await get_session(request)
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return str(session["csrf"])


async def form(request: web.Request) -> Any:
    """The posted form, refused unless it carries this session's CSRF token."""
    try:
        posted = await request.post()
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text="Biểu mẫu không đọc được (không phải UTF-8).", content_type="text/plain"
        ) from None
    session = await get_session(request)
    expected = session.get("csrf")
    given = posted.get("csrf")
    if not expected or not isinstance(given, str) or not hmac.compare_digest(given, expected):
        raise web.HTTPForbidden(
            text="Biểu mẫu hết hạn hoặc không hợp lệ (thiếu mã CSRF). Hãy tải lại trang và gửi lại.",
            content_type="text/plain",
        )
    return posted


async def user(request: web.Request, *roles: str) -> User:
    """The logged-in user (else to the login page); with `roles`, only those roles see the page."""
    found = await session_user(request)
    if found is None:
        raise web.HTTPSeeOther("/login?" + urlencode({"next": _back_to(request)}))
    if roles and found.role not in roles:
        # the same page as any other, with the navigation: a hamlet head is not left at a dead end
        page = aiohttp_jinja2.render_template(
            "forbidden.html", request, {"message": "Tài khoản của bạn không xem được trang này."}, status=403
        )
        raise web.HTTPForbidden(text=page.text, content_type="text/html")
    return found


async def official(request: web.Request) -> User:
    """The logged-in official or admin: the pages that change what the commune sends."""
    return await user(request, *OFFICIALS)


def _back_to(request: web.Request) -> str:
    """Where to return after logging in: the page itself, or for a posted form the page it was on."""
    if request.method == "GET":
        return request.path_qs
    referer = urlsplit(request.headers.get("Referer", ""))
    if referer.netloc == request.host and referer.path.startswith("/"):
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/"


def local_path(target: str) -> str:
    """A path on this console only ("/send"), never another site ("//evil", "https://…"): else "/"."""
    # a browser drops tabs and newlines from a URL ("/\t/evil" is "//evil"): no control character at all
    clean = target.isprintable()
    if clean and target.startswith("/") and not target.startswith("//") and "\\" not in target and target != "/login":
        return target
    return "/"


async def flash(request: web.Request, text: str, kind: str = "ok") -> None:
    session = await get_session(request)
    session["flashes"] = [*session.get("flashes", []), (kind, plain(text))]


async def audit(request: web.Request, who: User, action: str, detail: Any = "") -> None:
    text = detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, default=str)
    await request.app[STORE].call(accounts.audit, who.username, action, text, request.app[CLOCK]())


@dataclass(frozen=True)
class Done:
    """What a form's work did: the notice to flash ("" = none), the audit log's action and detail,
    and where to go next (None: where the form goes back to)."""

    note: str
    action: str
    detail: Any = ""
    to: str | None = None


async def act(request: web.Request, who: User, back: str, work: Callable[[], Awaitable[Done]]) -> NoReturn:
    """A console form's post: its work done, audited and its notice flashed, or its error flashed;
    either way a redirect (to `back` unless the work says), so a reload never posts it again."""
    try:
        done = await work()
    except LoaError as e:
        await flash(request, e.message, "error")
        raise web.HTTPSeeOther(back) from None
    await audit(request, who, done.action, done.detail)
    if done.note:
        await flash(request, done.note)
    raise web.HTTPSeeOther(done.to or back)


# "6h30", "6:30", "06.30", "6g30", "18h", "630"? no: a time needs its hour and, if any, two-digit minutes
_CLOCK = re.compile(r"\s*(\d{1,2})\s*(?:[h:.g]\s*(\d{2})?|\s*giờ\s*(\d{2})?)?\s*(?:phút)?\s*", re.IGNORECASE)


def clock(text: str, field: str = "time") -> str:
    """A time of day as a person types it ("6h30", "6:30", "06.30", "18h", "7 giờ 15") → "06:30"."""
    m = _CLOCK.fullmatch(text or "")
    if m is None:
        raise InvalidRequest(f'Giờ "{text[:20]}" không đọc được: hãy viết như 6h30, 6:30 hoặc 18:00.', field=field)
    hour, minute = int(m.group(1)), int(m.group(2) or m.group(3) or 0)
    if hour > 23 or minute > 59:
        raise InvalidRequest(f'Giờ "{text[:20]}" không có: giờ từ 0 đến 23, phút từ 0 đến 59.', field=field)
    return f"{hour:02d}:{minute:02d}"


def when(request: web.Request, ts: float | None) -> str:
    return request.app[CONSOLE].when(ts)
