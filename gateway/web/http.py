"""Helpers every HTTP view uses: JSON responses, JSON bodies, bearer tokens, integer parameters."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.errors import InvalidRequest, Unauthorized
from gateway.keys import STORE, TOKENS
from gateway.web import accounts
from gateway.web.accounts import User


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
    return user


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
