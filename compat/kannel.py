"""Kannel's /cgi-bin/sendsms over Loa's outbox, answering as smsbox 1.4.5 answers (codes and bodies
compared with the real one in tests/test_compat_kannel.py)."""

from __future__ import annotations

import logging

from aiohttp import web

from compat import params
from compat.keys import COMPAT
from compat.queries import Receipt
from gateway.core import phone
from gateway.core.errors import InvalidRequest, LimitReached, StoreUnavailable
from gateway.sms.encoding import prepare

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_RECIPIENTS = 100
MAX_TEXT = 6400  # characters: RapidPro's longest part; 43 UCS-2 segments

ACCEPTED = "0: Accepted for delivery"
QUEUED = "3: Queued for later delivery"
AUTH_FAILED = "Authorization failed for sendsms"
NO_RECEIVER = "Missing receiver number, rejected"
DENIED = "Number(s) has/have been denied by white- and/or black-lists."
TEMPORAL = "Temporal failure, try again later."


def _answer(status: int, body: str) -> web.Response:
    # smsbox answers text/html whatever it says
    return web.Response(status=status, text=body, content_type="text/html")


@routes.get("/cgi-bin/sendsms")
@routes.post("/cgi-bin/sendsms")
async def sendsms(request: web.Request) -> web.Response:
    compat = request.app[COMPAT]
    config = compat.kannel
    p = await params.read(request)
    user = params.text(p, "username") or params.text(p, "user")
    password = params.text(p, "password") or params.text(p, "pass")
    # both compared, whichever fails: the time taken tells nothing of which
    if not (params.same(user, config.username) & params.same(password, config.password)):
        return _answer(403, AUTH_FAILED)
    to = params.text(p, "to")
    if not to or not to.strip():
        return _answer(400, NO_RECEIVER)
    try:
        text = _text(p)
        recipients = _recipients(to)
        priority = _priority(p, config.priority)
        deferred = _int(p, "deferred", 0, 60 * 24 * 7)
        dlr_mask = _int(p, "dlr-mask", 0, 31)
    except InvalidRequest as e:
        return _answer(400, e.message)
    receipt = Receipt(
        "kannel", sender=params.text(p, "from") or "", dlr_url=params.text(p, "dlr-url") or "", dlr_mask=dlr_mask
    )
    now = compat.clock()
    try:
        accepted = await compat.accept(
            recipients, prepare(text, compat.policy), priority, receipt, now + 60 * deferred if deferred else 0.0
        )
    except (LimitReached, StoreUnavailable) as e:
        log.warning("sendsms refused for now: %s", e.message)
        return _answer(503, TEMPORAL)
    if not accepted.ids:
        return _answer(400, DENIED)
    return _answer(202, QUEUED if accepted.held else ACCEPTED)


def _text(p: dict[str, bytes]) -> str:
    """The text in its coding: 2 is UCS-2 (UTF-16BE unless a charset says otherwise), else the charset
    (UTF-8 by default); a UDH or 8-bit binary Loa cannot send as given, so it refuses it."""
    if p.get("udh"):
        raise InvalidRequest("UDH is not supported by Loa (it splits long texts itself), rejected")
    coding = _int(p, "coding", 0, 2)
    if coding == 1:
        raise InvalidRequest("8-bit binary (coding=1) is not supported by Loa, rejected")
    raw = p.get("text", b"")
    charset = (params.text(p, "charset") or ("UTF-16BE" if coding == 2 else "UTF-8")).strip()
    try:
        text = raw.decode(charset)
    except (LookupError, UnicodeDecodeError):
        raise InvalidRequest(f"Text not in charset {charset[:40]}, rejected") from None
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"Text longer than {MAX_TEXT} characters, rejected")
    if not text.strip():
        raise InvalidRequest("Empty text not allowed, rejected")
    return text


def _recipients(to: str) -> list[tuple[str, str]]:
    """Kannel's `to`: numbers separated by spaces (or '+'-joined in the URL); each a Vietnamese mobile."""
    given = list(dict.fromkeys(to.split()))
    if len(given) > MAX_RECIPIENTS:
        raise InvalidRequest(f"More than {MAX_RECIPIENTS} receivers, rejected")
    out = []
    for number in given:
        try:
            out.append((number, phone.normalise(number)))
        except InvalidRequest:
            raise InvalidRequest(f"Invalid receiver number {number[:20]}, rejected") from None
    return out


def _priority(p: dict[str, bytes], default: str) -> str:
    return "reply" if _int(p, "priority", 0, 3) >= 1 else default


def _int(p: dict[str, bytes], key: str, low: int, high: int) -> int:
    value = params.text(p, key)
    if value is None or value.strip() == "":
        return low
    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"Invalid {key} {value[:20]!r}, rejected") from None
    if not low <= number <= high:
        raise InvalidRequest(f"{key} must be {low}..{high}, rejected")
    return number


def setup(app: web.Application) -> None:
    # always served: with no [kannel] username every request is refused (an unset secret never matches)
    app.add_routes(routes)
