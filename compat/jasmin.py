"""Jasmin's HTTP API /send (as /jasmin/send: the console has /send) over Loa's outbox, answering as
Jasmin 0.11 answers: `Success "<id>"`, or `Error "<why>"` with Jasmin's status codes."""

from __future__ import annotations

import binascii

from aiohttp import web

from compat import params
from compat.keys import COMPAT
from compat.queries import Receipt
from gateway.core import phone
from gateway.core.errors import InvalidRequest, LimitReached, StoreUnavailable
from gateway.sms.encoding import prepare

routes = web.RouteTableDef()
MAX_TEXT = 6400


def _answer(status: int, body: str) -> web.Response:
    return web.Response(status=status, text=body, content_type="text/plain")


def _error(status: int, why: str) -> web.Response:
    return _answer(status, f'Error "{why}"')


@routes.get("/jasmin/send")
@routes.post("/jasmin/send")
async def send(request: web.Request) -> web.Response:
    compat = request.app[COMPAT]
    config = compat.jasmin
    p = await params.read(request)
    for field in ("to", "username", "password"):
        if field not in p:
            return _error(400, f"Mandatory argument [{field}] is not found.")
    user = params.text(p, "username") or ""
    if not (params.same(user, config.username) & params.same(params.text(p, "password"), config.password)):
        return _error(403, f"Authentication failure for username:{user[:40]}")
    try:
        text = _content(p)
        to = params.text(p, "to") or ""
        number = phone.normalise(to if to.startswith(("0", "+")) else f"+{to}")
        priority = "reply" if _int(p, "priority", 0, 3) >= 1 else config.priority
        _int(p, "validity-period", 0, 10**6)
        if "sdt" in p:
            raise InvalidRequest("Argument [sdt] is not supported by Loa.")
        want = (params.text(p, "dlr") or "no").lower()
        if want not in ("yes", "no"):
            raise InvalidRequest(f"Argument [dlr] has an invalid value: [{want[:10]}].")
        level = _int(p, "dlr-level", 1, 3) if want == "yes" else 0
        method = (params.text(p, "dlr-method") or "POST").upper() if want == "yes" else "GET"
        if method not in ("GET", "POST"):
            raise InvalidRequest(f"Argument [dlr-method] has an invalid value: [{method[:10]}].")
        url = (params.text(p, "dlr-url") or "") if want == "yes" else ""
        if want == "yes" and not url:
            raise InvalidRequest("Mandatory argument [dlr-url] is not found.")
    except InvalidRequest as e:
        return _error(400, e.message)
    receipt = Receipt("jasmin", sender=params.text(p, "from") or "", dlr_url=url, dlr_mask=level, dlr_method=method)
    try:
        accepted = await compat.accept([(to, number)], prepare(text, compat.policy), priority, receipt)
    except LimitReached as e:
        return _error(403, "User throughput exceeded" if e.details.get("kind") == "rate" else "Daily quota exceeded")
    except StoreUnavailable:
        return _error(500, "Cannot send submit_sm, the gateway's store is unavailable")
    if not accepted.ids:
        return _error(412, "No route found: the recipient opted out (HUY)")
    return _answer(200, f'Success "{accepted.ids[0]}"')


def _content(p: dict[str, bytes]) -> str:
    """`content` (UTF-8, or Latin-1 when it is not) or `hex-content` (UCS-2 when coding=8), not both."""
    coding = _int(p, "coding", 0, 14)
    if ("content" in p) == ("hex-content" in p):
        raise InvalidRequest(
            "content and hex-content cannot be used both in same request."
            if "content" in p else "content or hex-content not present."
        )  # fmt: skip
    if "hex-content" in p:
        try:
            raw = binascii.unhexlify(p["hex-content"])
        except (binascii.Error, ValueError):
            raise InvalidRequest("Argument [hex-content] has an invalid value.") from None
    else:
        raw = p["content"]
    if coding == 8:
        try:
            text = raw.decode("utf-16-be")
        except UnicodeDecodeError:
            raise InvalidRequest("Argument [content] is not UCS-2 (coding=8).") from None
    elif coding in (0, 1, 3):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    else:
        raise InvalidRequest(f"Argument [coding] has an invalid value: [{coding}] (Loa sends text only).")
    if not text.strip() or len(text) > MAX_TEXT:
        raise InvalidRequest(f"Argument [content] must hold 1..{MAX_TEXT} characters.")
    return text


def _int(p: dict[str, bytes], key: str, low: int, high: int) -> int:
    value = params.text(p, key)
    if value is None or value == "":
        return low
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not low <= number <= high:
        raise InvalidRequest(f"Argument [{key}] has an invalid value: [{value[:20]}].")
    return number


def setup(app: web.Application) -> None:
    app.add_routes(routes)
