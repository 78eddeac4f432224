"""The USSD callback in the common aggregator shape (Africa's Talking): form POST in, CON/END out."""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from gateway.core.errors import InvalidRequest
from gateway.ussd.keys import USSD
from gateway.ussd.menu import Screen

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


# sizes an aggregator never exceeds: a session id, an MSISDN, the joined inputs (182 per screen)
MAX_BODY = 4096
MAX_SESSION, MAX_PHONE, MAX_TEXT = 100, 20, 800


def setup(app: web.Application) -> None:
    app.add_routes(routes)
    if not app[USSD].config.ussd_token:
        log.warning("USSD callback off: set [residents] ussd_token to serve /ussd/africastalking")


def _plain(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


@routes.post("/ussd/africastalking")
async def africastalking(request: web.Request) -> web.Response:
    secret = request.app[USSD].config.ussd_token
    # without a secret anyone reaching the port could walk the menu as anyone: the callback is off
    if not secret or not hmac.compare_digest(request.query.get("token", "").encode(), secret.encode()):
        return web.Response(text="END Khong duoc phep.", content_type="text/plain", status=403)
    try:
        return _plain((await _screen(request)).render())
    except InvalidRequest as e:
        return web.Response(text=f"END {e.message}", content_type="text/plain", status=400)
    except Exception:
        log.exception("USSD callback failed")
        return _plain("END Loi he thong, vui long thu lai sau.")


async def _screen(request: web.Request) -> Screen:
    if request.content_length is None or request.content_length > MAX_BODY:
        raise InvalidRequest("Yeu cau qua lon.")
    try:
        form = await request.post()
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("Yeu cau khong hop le.") from None
    session_id = str(form.get("sessionId", "")).strip()
    phone = str(form.get("phoneNumber", "")).strip()
    text = str(form.get("text", ""))
    if not session_id or not phone:
        raise InvalidRequest("Thieu thong tin phien.")
    if len(session_id) > MAX_SESSION or len(phone) > MAX_PHONE or len(text) > MAX_TEXT:
        raise InvalidRequest("Yeu cau qua dai.")
    return await request.app[USSD].screen(session_id, phone, text)
