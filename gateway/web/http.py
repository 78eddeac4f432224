"""Helpers every HTTP view uses: JSON responses, JSON bodies, bearer tokens, integer parameters."""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.errors import InvalidRequest, Unauthorized
from gateway.keys import STORE, TOKENS
from gateway.web import accounts
from gateway.web.accounts import User

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


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


PRINCIPAL = web.RequestKey("principal", User)


@web.middleware
async def audit_api(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every change made through the API is written to the audit log with who made it."""
    response = await handler(request)
    user = request.get(PRINCIPAL)
    if user is not None and request.method in ("POST", "PUT", "DELETE") and response.status < 400:
        await request.app[STORE].call(
            accounts.audit, user.username, f"API {request.method} {request.path}", "", time.time()
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
