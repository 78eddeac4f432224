"""What every HTTP view uses: JSON in and out, bearer tokens, the error and audit middlewares."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.core.errors import InvalidRequest, LoaError, Unauthorized
from gateway.core.keys import CLOCK, STORE
from gateway.core.principal import User
from gateway.web import accounts
from gateway.web.keys import BIG_BODIES, TOKENS

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PRINCIPAL = web.RequestKey("principal", User)
OFFICIALS = ("admin", "official")  # who runs what the commune sends: a hamlet head is not one of them


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def error_body(status: int, message: str, **details: Any) -> web.Response:
    body = {"error": message, **{k: v for k, v in details.items() if v is not None}}
    return json_response(body, status=status)


# what a person is told for the router's own answers ("404: Not Found" is English and bare)
PAGE_STATUS = {
    404: "Không có trang này. Địa chỉ có thể đã cũ hoặc gõ sai.",
    405: "Trang này không nhận cách gửi đó: hãy mở lại trang từ trình đơn.",
}
ErrorPage = Callable[[web.Request, int, str], Awaitable[web.StreamResponse]]
ERROR_PAGE: web.AppKey[ErrorPage] = web.AppKey("error_page")


def is_page(request: web.Request) -> bool:
    """A console page (a person reads it), not the API, health or a phone network's callback."""
    return ERROR_PAGE in request.app and not request.path.startswith(("/api/", "/healthz", "/metrics", "/ussd"))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place a LoaError becomes an HTTP answer."""
    try:
        return await handler(request)
    except LoaError as e:
        if is_page(request):  # a stale link or a changed row: a page in words, not JSON
            return await request.app[ERROR_PAGE](request, e.status, e.message)
        return error_body(e.status, e.message, **e.details)
    except web.HTTPException as e:
        if e.empty_body or e.status < 400:
            raise
        if is_page(request):
            if e.content_type == "text/html" or e.status not in PAGE_STATUS:
                raise  # a page that made its own answer (forbidden, …) keeps it
            return await request.app[ERROR_PAGE](request, e.status, PAGE_STATUS[e.status])
        return error_body(e.status, e.reason)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_body(500, "Lỗi máy chủ (internal error); xem nhật ký")


async def authorise(request: web.Request, *roles: str) -> User:
    """The caller of an API call: a user's token, or one of the config's tokens (the commune's own
    systems, with the admin role). With `roles`, only those roles may go on."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Cần đăng nhập: thiếu token (missing bearer token)")
    if any(hmac.compare_digest(token.encode(), t.encode()) for t in request.app[TOKENS]):
        user = accounts.SYSTEM
    else:
        found = await request.app[STORE].call(accounts.user_for_token, token)
        if found is None:
            raise Unauthorized("Token không hợp lệ (invalid token)")
        user = found
    if roles:
        user.require(*roles)
    request[PRINCIPAL] = user
    return user


async def authorise_official(request: web.Request) -> User:
    """The caller of an API call only the commune's officials (and admins) make; anyone else: 403."""
    return await authorise(request, *OFFICIALS)


@web.middleware
async def audit_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every change made through the API is written to the audit log with who made it."""
    response = await handler(request)
    user = request.get(PRINCIPAL)
    if user is not None and request.method in ("POST", "PUT", "DELETE") and response.status < 400:
        await request.app[STORE].call(
            accounts.audit, user.username, f"API {request.method} {request.path}", "", request.app[CLOCK]()
        )
    return response


async def read_json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("Dữ liệu gửi lên không phải JSON hợp lệ (invalid JSON)") from None
    except RecursionError:
        raise InvalidRequest("JSON lồng nhau quá sâu (JSON nested too deep)") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Cần một đối tượng JSON (expected a JSON object)")
    return body


def int_param(value: str, name: str) -> int:
    """A whole number as SQLite can hold it (a 40-digit id is refused here, not by the database)."""
    try:
        number = int(value) if len(value) <= 19 else None
    except ValueError:
        number = None
    if number is None or not -(2**63) <= number < 2**63:
        raise InvalidRequest(f"{name} phải là số nguyên (must be an integer)", field=name)
    return number


# what a page may load: only this server's own files, never framed by another site
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; media-src 'self' blob:; object-src 'none';"
    " base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
TAKES_NO_WORK = ("/login", "/logout", "/ussd/")  # posts that add no rows worth refusing on a full disk
MAX_BODY = 1024 * 1024  # any request but the uploads named in `BIG_BODIES`


def body_limit(big: dict[str, int], path: str) -> int:
    """The limit of a path: its own in `big` (where "{id}" stands for a number), else MAX_BODY."""
    if path in big:
        return big[path]
    for pattern, limit in big.items():
        if "{id}" in pattern and re.fullmatch(re.escape(pattern).replace(r"\{id\}", r"\d{1,9}"), path):
            return limit
    return MAX_BODY


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every answer; a body over its path's limit refused before it is read.
    The outermost middleware, so that error answers carry the headers too."""
    limit = body_limit(request.app[BIG_BODIES], request.path)
    response: web.StreamResponse
    if request.body_exists and request.content_length is None:
        # a chunked body has no size to check before it is read: browsers and curl always send one
        response = error_body(411, "Cần Content-Length (a body without its length is refused)")
        response.headers.update(HEADERS)
        return response
    if request.content_length is not None and request.content_length > limit:
        response = error_body(413, f"Dữ liệu gửi lên quá lớn: tối đa {limit // 1024} KB (request body too large)")
        response.headers.update(HEADERS)
        return response
    if request.method in ("POST", "PUT") and not request.path.startswith(TAKES_NO_WORK):
        problem = request.app[STORE].space_problem()
        if problem is not None:  # new work would fill the disk; what is queued already goes on
            refused = error_body(503, problem)
            refused.headers.update(HEADERS)
            return refused
    try:
        response = await handler(request)
    except web.HTTPException as e:
        e.headers.update(HEADERS)
        raise
    response.headers.update(HEADERS)
    return response
