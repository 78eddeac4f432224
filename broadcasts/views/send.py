"""The console's "Gửi tin nhắn": one text to hamlets, roles or typed numbers, with its cost shown
before it goes to many."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from broadcasts import people
from broadcasts.keys import BROADCASTS
from gateway.core.errors import LoaError
from gateway.core.principal import User
from gateway.core.text import fold
from gateway.web import pages

routes = web.RouteTableDef()


async def _send_context(
    request: web.Request,
    user: User,
    form: Any = None,
    errors: dict[str, str] | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    b = request.app[BROADCASTS]
    hamlets = await b.hamlet_names()
    if user.is_head:
        hamlets = [h for h in hamlets if h == user.hamlet]
    # a hamlet head sends to their own hamlet: it is ticked already
    chosen = form.getall("hamlets", []) if form is not None else ([user.hamlet] if user.is_head else [])
    return {
        "hamlets": hamlets,
        "roles": people.ROLES,
        "role_names": people.ROLE_NAMES,
        "form": {
            "text": form.get("text", "") if form is not None else "",
            "numbers": form.get("numbers", "") if form is not None else "",
            "encoding": form.get("encoding", "auto") if form is not None else "auto",
            "hamlets": chosen,
            "roles": form.getall("roles", []) if form is not None else [],
        },
        "errors": errors or {},
        "price": b.config.segment_price,
        "confirm": confirm,
        "batch": (await get_session(request)).pop("batch", None) if form is None else None,
    }


@routes.get("/send")
@aiohttp_jinja2.template("send.html")
async def send_page(request: web.Request) -> dict[str, Any]:
    user = await pages.user(request)
    return await _send_context(request, user)


@routes.post("/send")
async def send(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    form = await pages.form(request)
    text = str(form.get("text", "")).strip()
    target: dict[str, Any] = {}
    if form.getall("hamlets", []):
        target["hamlets"] = [str(h) for h in form.getall("hamlets")]
    if form.getall("roles", []):
        target["roles"] = [str(r) for r in form.getall("roles")]
    typed = [n.strip() for n in str(form.get("numbers", "")).replace(",", "\n").splitlines() if n.strip()]
    if typed:
        target["numbers"] = typed
    if form.get("encoding") == "gsm7":
        text = fold(text)
    errors: dict[str, str] = {}
    if not text:
        errors["text"] = "Hãy viết nội dung tin nhắn."
    if not target:
        errors["to"] = "Hãy chọn thôn, vai trò hoặc nhập số điện thoại."
    b = request.app[BROADCASTS]
    if not errors:
        try:
            await b.check_target(user, target, numbers=True)
            preview = await b.preview({"text": text, "to": target})
            if preview["recipients"] > 1 and str(form.get("confirm", "")) != _fingerprint(preview):
                # to many people: first say what it will cost, then send on a second click
                context = await _send_context(request, user, form, {}, preview | {"key": _fingerprint(preview)})
                return aiohttp_jinja2.render_template("send.html", request, context)
            created = await b.create_reminder({"text": text, "to": target}, by=user)
        except LoaError as e:
            field = e.details.get("field", "text")
            errors["to" if field in ("to", "hamlet", "group") else "text"] = e.message
        else:
            run = created.get("run", {"queued": 0})
            await pages.audit(request, user, "gửi tin nhắn", {"to": target, "text": text, "queued": run["queued"]})
            await pages.flash(request, _queued(run))
            session = await get_session(request)
            session["batch"] = f"reminder:{created['id']}"
            raise web.HTTPSeeOther("/send")
    context = await _send_context(request, user, form, errors)
    return aiohttp_jinja2.render_template("send.html", request, context, status=400)


def _queued(run: dict[str, Any]) -> str:
    """What the sender is told of the run: how many queued, and why any were not."""
    note = f"Đã xếp {run['queued']} tin vào hàng gửi."
    if run.get("deferred"):
        note += " Đang giờ nghỉ đêm: tin sẽ đi lúc sáng."
    if run.get("capped") or run.get("opted_out"):
        note += f" Bỏ qua {run.get('capped', 0)} số đã đủ tin trong ngày, {run.get('opted_out', 0)} số đã nhắn HUY."
    return note


def _fingerprint(preview: dict[str, Any]) -> str:
    """What the sender confirmed: a change of people or length after the preview asks again."""
    return f"{preview['recipients']}-{preview['segments']}"
