"""What every HTTP view uses: JSON in and out, bearer tokens, the error and audit middlewares."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.core.errors import InvalidRequest, LoaError, Unauthorized
from gateway.core.keys import CLOCK, STORE
from gateway.core.principal import User
from gateway.web import accounts

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKENS = web.AppKey("tokens", frozenset[str])
PRINCIPAL = web.RequestKey("principal", User)


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def error_body(status: int, message: str, **details: Any) -> web.Response:
    body = {"error": message, **{k: v for k, v in details.items() if v is not None}}
    return json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place a LoaError becomes an HTTP answer."""
    try:
        return await handler(request)
    except LoaError as e:
        return error_body(e.status, e.message, **e.details)
    except web.HTTPException as e:
        if e.empty_body or e.status < 400 or not request.path.startswith(("/api/", "/healthz")):
            raise  # pages keep their own Vietnamese text; the API speaks JSON
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
    if not isinstance(body, dict):
        raise InvalidRequest("Cần một đối tượng JSON (expected a JSON object)")
    return body


def int_param(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidRequest(f"{name} phải là số nguyên (must be an integer)", field=name) from None
