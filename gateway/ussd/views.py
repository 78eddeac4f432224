"""The USSD callback in the common aggregator shape (Africa's Talking): form POST in, CON/END out."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from gateway.core.errors import InvalidRequest
from gateway.ussd.menu import Screen
from gateway.ussd.service import Ussd

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


USSD = web.AppKey("ussd", Ussd)


def setup(app: web.Application, ussd: Ussd) -> None:
    app[USSD] = ussd
    app.add_routes(routes)


def _plain(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


@routes.post("/ussd/africastalking")
async def africastalking(request: web.Request) -> web.Response:
    try:
        return _plain((await _screen(request)).render())
    except InvalidRequest as e:
        return _plain(f"END {e.message}")
    except Exception:
        log.exception("USSD callback failed")
        return _plain("END Loi he thong, vui long thu lai sau.")


async def _screen(request: web.Request) -> Screen:
    ussd = request.app[USSD]
    secret = ussd.config.ussd_token
    if secret and not hmac.compare_digest(request.query.get("token", ""), secret):
        raise InvalidRequest("Khong duoc phep.")
    form = await request.post()
    session_id = str(form.get("sessionId", "")).strip()
    phone = str(form.get("phoneNumber", "")).strip()
    if not session_id or not phone:
        raise InvalidRequest("Thieu thong tin phien.")
    return await ussd.screen(session_id, phone, str(form.get("text", "")))
