"""One error hierarchy for Loa, and the middleware that turns it into JSON responses."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)


class LoaError(Exception):
    """Base of every error Loa raises on purpose; `status` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(LoaError):
    pass


class InvalidRequest(LoaError):
    status = 400


class Unauthorized(LoaError):
    status = 401


class NotFound(LoaError):
    status = 404


class ModemError(LoaError):
    """The modem answered ERROR / +CMS ERROR / +CME ERROR, or not at all."""

    status = 503

    def __init__(self, message: str, *, code: int | None = None, transient: bool = True) -> None:
        super().__init__(message, code=code)
        self.code = code
        self.transient = transient


class ModemUnavailable(ModemError):
    """The port is closed or the modem stopped answering: not the message's fault."""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_body(status: int, message: str, **details: Any) -> web.Response:
    body = {"error": message, **{k: v for k, v in details.items() if v is not None}}
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
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
