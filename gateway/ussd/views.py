"""The USSD callback in the common aggregator shape (Africa's Talking): form POST in, CON/END out."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from aiohttp import web

from gateway.core.errors import InvalidRequest
from gateway.core.keys import STORE
from gateway.keywords import service as svc
from gateway.keywords.config import ResidentsConfig
from gateway.keywords.views import RESIDENTS
from gateway.ussd.menu import Item, Menu, Screen
from gateway.ussd.queries import touch_session

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


@dataclass(frozen=True)
class UssdSettings:
    commune: str
    residents: ResidentsConfig


USSD = web.AppKey("ussd", UssdSettings)


def setup(app: web.Application, settings: UssdSettings) -> None:
    app[USSD] = settings
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
    settings = request.app[USSD]
    secret = settings.residents.ussd_token
    if secret and not hmac.compare_digest(request.query.get("token", ""), secret):
        raise InvalidRequest("Khong duoc phep.")
    form = await request.post()
    session_id = str(form.get("sessionId", "")).strip()
    phone = str(form.get("phoneNumber", "")).strip()
    text = str(form.get("text", ""))
    if not session_id or not phone:
        raise InvalidRequest("Thieu thong tin phien.")
    residents = request.app[RESIDENTS]
    now = residents.clock()
    fresh = await request.app[STORE].call(
        touch_session, session_id, phone, now, settings.residents.ussd_session_timeout
    )
    if not fresh:
        return Screen("Phien da het han. Vui long quay so lai.", end=True)
    names = [h.name for h in await residents.hamlets()]
    procedures = [Item(p.key, p.name, p.answer_plain) for p in residents.procedures.values()]
    menu = Menu(settings.commune, procedures, names)
    screen = menu.walk(text.split("*") if text else [])
    if screen.action is not None:
        number = svc.as_number(phone)
        if number is None:
            return Screen("So dien thoai khong hop le.", end=True)
        kind, arg = screen.action
        if kind == "subscribe":
            await residents.subscribe_number(number, arg)
        else:
            await residents.unsubscribe_number(number)
    return screen
