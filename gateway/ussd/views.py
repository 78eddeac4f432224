"""The USSD callback in the common aggregator shape (Africa's Talking): form POST in, CON/END out."""

from __future__ import annotations

import hmac
import logging

import sqlite_utils
from aiohttp import web

from gateway.errors import InvalidRequest
from gateway.keys import CONFIG, RESIDENTS, STORE
from gateway.keywords import service as svc
from gateway.ussd.menu import Item, Menu, Screen

log = logging.getLogger(__name__)
routes = web.RouteTableDef()


def touch_session(db: sqlite_utils.Database, session_id: str, number: str, now: float, timeout: float) -> bool:
    """Record the session's activity; False when it had been idle past the timeout."""
    with db.conn:
        row = db.execute("select last_at from ussd_sessions where session_id=?", [session_id]).fetchone()
        if row is not None and now - row[0] > timeout:
            return False
        db.execute(
            "insert into ussd_sessions (session_id, number, started_at, last_at) values (?,?,?,?)"
            " on conflict(session_id) do update set last_at=excluded.last_at",
            [session_id, number, now, now],
        )
    return True


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
    config = request.app[CONFIG]
    secret = config.residents.ussd_token
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
    fresh = await request.app[STORE].call(touch_session, session_id, phone, now, config.residents.ussd_session_timeout)
    if not fresh:
        return Screen("Phien da het han. Vui long quay so lai.", end=True)
    names = [h.name for h in await request.app[STORE].call(svc.hamlets)]
    procedures = [Item(p.key, p.name, p.answer_plain) for p in residents.procedures.values()]
    menu = Menu(config.commune.name, procedures, names)
    screen = menu.walk(text.split("*") if text else [])
    if screen.action is not None:
        number = svc.as_number(phone)
        if number is None:
            return Screen("So dien thoai khong hop le.", end=True)
        kind, arg = screen.action
        if kind == "subscribe":
            hamlet = next(h for h in await request.app[STORE].call(svc.hamlets) if h.name == arg)
            await request.app[STORE].call(svc.subscribe, number, hamlet.id, now)
        else:
            await request.app[STORE].call(svc.unsubscribe, number, now)
    return screen
