"""The console's "Tin đã gửi": every message of a day with its status and its parts' delivery."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import aiohttp_jinja2
from aiohttp import web

from broadcasts import people
from broadcasts.keys import BROADCASTS
from gateway.core.errors import InvalidRequest
from gateway.core.keys import CLOCK
from gateway.sms.published import STATUSES
from gateway.web import pages
from gateway.web.http import int_param
from gateway.web.keys import CONSOLE

routes = web.RouteTableDef()


@routes.get("/messages")
@aiohttp_jinja2.template("messages.html")
async def messages_page(request: web.Request) -> dict[str, Any]:
    """ "Tin đã gửi": every message of a day with its status and its parts' delivery reports."""
    user = await pages.user(request)
    console = request.app[CONSOLE]
    today = datetime.fromtimestamp(request.app[CLOCK](), console.tz).date()
    raw_day = request.query.get("day", "")
    try:
        day = date.fromisoformat(raw_day) if raw_day else today
    except ValueError:
        raise InvalidRequest("Ngày phải có dạng 2026-12-07", field="day") from None
    status = request.query.get("status") or None
    if status not in (None, *STATUSES):
        raise InvalidRequest("Trạng thái không hợp lệ", field="status")
    batch = request.query.get("batch", "")[:40] or None
    before = request.query.get("before")
    start = datetime.combine(day, datetime.min.time(), console.tz).timestamp()
    # a batch is shown whole, whatever its day
    since, until = (0.0, float("inf")) if batch else (start, start + 86400)
    rows = await request.app[BROADCASTS].sent_history(
        user, since, until, status, batch, int_param(before, "before") if before else None
    )
    for r in rows:
        r["when"] = pages.when(request, r["created_at"])
    return {
        "rows": rows,
        "day": day.isoformat(),
        "today": today.isoformat(),
        "yesterday": (today - timedelta(days=1)).isoformat(),
        "status": status or "",
        "statuses": STATUSES,
        "batch": batch,
        "older": rows[-1]["id"] if len(rows) == people.HISTORY_PAGE else None,
        "waiting": sum(1 for r in rows if r["status"] == "queued"),
        "back": request.path_qs,
    }


@routes.post("/messages/{id:\\d{1,9}}/{action:resend|cancel}")
async def message_action(request: web.Request) -> web.StreamResponse:
    """ "Gửi lại" a failed or cancelled message; "Huỷ" one still waiting."""
    user = await pages.official(request)
    form = await pages.form(request)
    message_id = int(request.match_info["id"])
    b = request.app[BROADCASTS]

    async def work() -> pages.Done:
        if request.match_info["action"] == "resend":
            new = await b.resend_message(user, message_id)
            return pages.Done(f"Đã xếp lại tin số {message_id} vào hàng gửi (tin mới số {new}).", "gửi lại tin nhắn",
                              {"id": message_id, "new": new})  # fmt: skip
        if not await b.cancel_messages(user, [message_id], None):
            raise InvalidRequest(f"Tin số {message_id} không còn chờ gửi: đã gửi đi hoặc đã bị huỷ.")
        return pages.Done(f"Đã huỷ tin số {message_id}: sẽ không gửi.", "huỷ tin nhắn", {"id": message_id})

    await pages.act(request, user, pages.local_path(str(form.get("back", "/messages"))), work)


@routes.post("/messages/cancel")
async def cancel_waiting(request: web.Request) -> web.StreamResponse:
    """Every message of a batch still waiting cancelled (four night messages that should not go)."""
    user = await pages.official(request)
    form = await pages.form(request)
    batch = str(form.get("batch", ""))[:40]
    b = request.app[BROADCASTS]

    async def work() -> pages.Done:
        if not batch:
            raise InvalidRequest("Không rõ lần gửi nào: hãy mở lại trang từ liên kết của lần gửi.")
        cancelled = await b.cancel_messages(user, [], batch)
        if not cancelled:
            raise InvalidRequest("Không còn tin nào của lần gửi này đang chờ: đã gửi đi hết hoặc đã huỷ.")
        return pages.Done(f"Đã huỷ {cancelled} tin đang chờ gửi.", "huỷ tin đang chờ", {"batch": batch,
                          "cancelled": cancelled})  # fmt: skip

    await pages.act(request, user, f"/messages?batch={batch}", work)
