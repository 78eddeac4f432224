"""Query strings and form bodies read as bytes (Kannel's coding=2 text is UTF-16BE, not UTF-8)."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl

from aiohttp import web

MAX_BODY = 64 * 1024  # a request's form: 6400 characters of text fit many times over
MAX_VALUE = 32 * 1024


async def read(request: web.Request) -> dict[str, bytes]:
    """The first value of each parameter from the query string and, for a form POST, the body."""
    raw = [request.raw_path.partition("?")[2]]  # as sent: query_string is already decoded as UTF-8
    if request.method in ("POST", "PUT") and request.content_type == "application/x-www-form-urlencoded":
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        raw.append(body.decode("latin-1"))
    found: dict[str, bytes] = {}
    if (
        request.method == "POST"
        and request.content_type != "application/x-www-form-urlencoded"
        and request.can_read_body
    ):
        # Kannel's POST sendsms: the body is the text, the rest in X-Kannel-* headers
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        found["text"] = body
        if request.charset:
            found["charset"] = request.charset.encode("latin-1", errors="replace")
        for name, value in request.headers.items():
            if name.lower().startswith("x-kannel-"):
                found.setdefault(name[9:].lower(), value.encode("latin-1", errors="replace")[:MAX_VALUE])
    for part in raw:
        for key, value in parse_qsl(part, keep_blank_values=True, encoding="latin-1"):
            found.setdefault(key, value.encode("latin-1")[:MAX_VALUE])
    return found


def text(params: dict[str, bytes], key: str) -> str | None:
    value = params.get(key)
    return None if value is None else value.decode("utf-8", errors="replace")


def same(given: str | None, expected: str) -> bool:
    """Compared in constant time; an unset secret never matches."""
    return bool(expected) and given is not None and hmac.compare_digest(given.encode(), expected.encode())
