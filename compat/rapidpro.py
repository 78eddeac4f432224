"""RapidPro/TextIt's External API (EX) channel: Courier's send request in, the message into the outbox;
residents' messages, statuses and opt-outs go back through the callbacks (compat.calls)."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as DefusedET

from compat import calls, params
from compat import queries as q
from compat.keys import COMPAT
from gateway.core import phone
from gateway.core.errors import InvalidRequest, LimitReached, StoreUnavailable
from gateway.sms.encoding import prepare

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_TEXT = 6400  # RapidPro's largest max_length: Loa, not RapidPro, splits the text
MAX_ID = 64


@routes.post("/rapidpro/send")
@routes.get("/rapidpro/send")
@routes.put("/rapidpro/send")
async def send(request: web.Request) -> web.Response:
    compat = request.app[COMPAT]
    config = compat.rapidpro
    if not config.channel_uuid or not params.same(request.headers.get("Authorization"), config.authorization):
        return _json({"error": "unauthorized"}, 401)
    try:
        fields = await _fields(request)
        uuid = (fields.get("uuid") or fields.get("id") or "").strip()
        text = fields.get("text") or ""
        to = (fields.get("to") or "").strip()
        if len(uuid) > MAX_ID:
            raise InvalidRequest(f"field 'id' longer than {MAX_ID} characters")
        if not to:
            raise InvalidRequest("field 'to' required")
        if not text.strip() or len(text) > MAX_TEXT:
            raise InvalidRequest(f"field 'text' required, at most {MAX_TEXT} characters")
        number = phone.normalise(to if to.startswith(("0", "+")) else f"+{to}")  # {{to_no_plus}} too
    except InvalidRequest as e:
        return _json({"error": e.message}, 400)
    seen = await compat.store.call(q.known, "rapidpro", uuid) if uuid else None
    if seen is not None:  # Courier sent it again (a timeout on its side): the same message, not a second one
        return _json({"id": seen, "uuid": uuid, "status": "queued"}, 200)
    # without {{id}} in the channel's body RapidPro cannot be told the message's fate
    receipt = q.Receipt("rapidpro", external_id=uuid, dlr_mask=31 if uuid else 0)
    try:
        accepted = await compat.accept([(to, number)], prepare(text, compat.policy), config.priority, receipt)
    except (LimitReached, StoreUnavailable) as e:
        # a 5xx makes Courier try again later; nothing is queued
        return _json({"error": e.message}, 503)
    if not accepted.ids:
        # the resident sent HUY: RapidPro hears that the contact stopped and that this message failed
        owed = [calls.rapidpro_stopped(config, number)]
        if uuid:
            owed.append(calls.rapidpro_status(config, {"external_id": uuid}, "failed"))
        await compat.store.call(q.owe, owed, None, "", compat.clock())
        compat.wake()
        return _json({"uuid": uuid, "status": "opted out"}, 200)
    return _json({"id": accepted.ids[0], "uuid": uuid, "status": "queued"}, 200)


async def _fields(request: web.Request) -> dict[str, str]:
    """Courier's variables from a form, a JSON object, an XML document, or the query string (GET)."""
    if request.content_type == "application/json":
        raw = await request.content.read(params.MAX_BODY + 1)
        if len(raw) > params.MAX_BODY:
            raise InvalidRequest("body too large")
        try:
            body: Any = json.loads(raw or b"{}")
        except ValueError:
            raise InvalidRequest("body is not JSON") from None
        if not isinstance(body, dict):
            raise InvalidRequest("body must be a JSON object")
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
    if request.content_type in ("application/xml", "text/xml"):
        return _xml_fields(await _body(request))
    found = await params.read(request)
    return {k: v.decode("utf-8", errors="replace") for k, v in found.items()}


async def _body(request: web.Request) -> bytes:
    raw = await request.content.read(params.MAX_BODY + 1)
    if len(raw) > params.MAX_BODY:
        raise InvalidRequest("body too large")
    return raw


def _xml_fields(raw: bytes) -> dict[str, str]:
    """An XML body as the channel's template writes it (`<message><to>{{to}}</to>…</message>`): each
    element's text under its tag; no DTD, no entities (defusedxml)."""
    try:
        root = DefusedET.fromstring(raw, forbid_dtd=True)
    except (DefusedET.ParseError, DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise InvalidRequest("body is not XML (or has a DTD)") from None
    return {el.tag: (el.text or "").strip() for el in root.iter() if el is not root and len(el) == 0}


def _json(data: dict[str, Any], status: int) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


def setup(app: web.Application) -> None:
    app.add_routes(routes)
