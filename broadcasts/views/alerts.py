"""The console's alerts: officials send one that each hamlet head confirms; the boards show who has,
and a hamlet head confirms from here as from the phone."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from broadcasts.keys import BROADCASTS
from gateway.core.errors import LoaError
from gateway.core.principal import User
from gateway.web import pages
from gateway.web.http import OFFICIALS

routes = web.RouteTableDef()


async def _alerts_context(
    request: web.Request, user: User, form: Any = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    b = request.app[BROADCASTS]
    boards = await b.recent_boards(20, user)
    for board in boards:
        board["when"] = pages.when(request, board["created_at"])
        board["mine"] = next((r for r in board["recipients"] if user.number and r["number"] == user.number), None)
        for r in board["recipients"]:
            for k in ("confirmed_at", "resent_at", "escalated_at"):
                r[k] = pages.when(request, r[k])
    typed = {
        "text": str(form.get("text", "")) if form else "",
        "hamlets": form.getall("hamlets", []) if form else [],
        "heads_only": bool(form.get("heads_only")) if form else True,
        "minutes": str(form.get("minutes", "")) if form else str(int(b.config.alert_confirm_minutes)),
        "escalate_to": str(form.get("escalate_to", "")) if form else b.config.alert_escalate_to,
    }
    # the counter counts what goes: the text with its "Trả lời OK … để xác nhận đã nhận." (with the
    # alert's number when another alert is still open), and the confirmation sent back after OK
    code = " 9999" if await b.open_alerts() else ""
    return {
        "suffix": f" Trả lời OK{code} để xác nhận đã nhận.",
        "reply": "Đã nhận xác nhận cảnh báo 9999. Cảm ơn.",
        "fold": b.policy == "gsm7",
        "boards": boards,
        "hamlets": await b.hamlet_names(),
        "form": typed,
        "errors": errors or {},
        "price": b.config.segment_price,
    }


@routes.get("/alerts")
@aiohttp_jinja2.template("alerts.html")
async def alerts_page(request: web.Request) -> dict[str, Any]:
    user = await pages.user(request)
    return await _alerts_context(request, user)


@routes.get("/alerts/boards")
@aiohttp_jinja2.template("alert_boards.html")
async def alert_boards(request: web.Request) -> dict[str, Any]:
    """The boards alone: the alerts page fetches them every 15 s to stay current."""
    user = await pages.user(request)
    return await _alerts_context(request, user)


@routes.post("/alerts/{id:\\d{1,9}}/{action:confirm|close}")
async def alert_action(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request)
    await pages.form(request)
    alert_id = int(request.match_info["id"])
    b = request.app[BROADCASTS]

    async def work() -> pages.Done:
        if request.match_info["action"] == "confirm":
            counted = await b.confirm_alert(user, alert_id)
            text = f"Đã xác nhận cảnh báo {alert_id}." if counted else f"Cảnh báo {alert_id} đã được xác nhận trước đó."
            return pages.Done(text, "xác nhận cảnh báo", {"id": alert_id})
        user.require(*OFFICIALS)
        closed = await b.close_alert(alert_id)
        text = f"Đã đóng cảnh báo {alert_id}: không nhắc lại, không báo cán bộ nữa." if closed else (
            f"Cảnh báo {alert_id} đã đóng hoặc đã được xác nhận đủ.")  # fmt: skip
        return pages.Done(text, "đóng cảnh báo", {"id": alert_id})

    await pages.act(request, user, f"/alerts#alert-{alert_id}", work)


@routes.post("/alerts")
async def send_alert(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    target: dict[str, Any] = {"hamlets": [str(h) for h in form.getall("hamlets", [])]}
    if form.get("heads_only"):
        target["roles"] = ["hamlet_head"]
    body: dict[str, Any] = {"text": str(form.get("text", "")), "to": target,
                            "escalate_to": str(form.get("escalate_to", "")).strip(),
                            "loudspeaker": bool(form.get("loudspeaker"))}  # fmt: skip
    errors: dict[str, str] = {}
    minutes = str(form.get("minutes", "")).strip().replace(",", ".") or "30"
    try:
        body["confirm_minutes"] = float(minutes)
    except ValueError:
        errors["minutes"] = f'Số phút chờ "{minutes[:20]}" không phải là một số.'
    else:
        if not 1 <= body["confirm_minutes"] <= 7 * 24 * 60:
            errors["minutes"] = "Số phút chờ phải từ 1 đến 10080 (một tuần)."
    if not target["hamlets"]:
        errors["to"] = "Hãy chọn ít nhất một thôn."
    b = request.app[BROADCASTS]
    if body["escalate_to"]:
        try:
            b.valid_number(body["escalate_to"])
        except LoaError as e:
            errors["escalate_to"] = pages.plain(e.message)
    if not errors:
        try:
            created = await b.create_alert(body)
        except LoaError as e:
            field = e.details.get("field", "text")
            key = {"to": "to", "confirm_minutes": "minutes", "escalate_to": "escalate_to"}.get(field, "text")
            errors[key] = pages.plain(e.message)
        else:
            await pages.audit(request, user, "gửi cảnh báo", body | {"id": created["id"]})
            await pages.flash(request, f"Đã gửi cảnh báo {created['id']} tới {created['recipients']} người.")
            raise web.HTTPSeeOther("/alerts")
    context = await _alerts_context(request, user, form, errors)
    return aiohttp_jinja2.render_template("alerts.html", request, context, status=400)
