"""The console's hamlets (thôn/bản): whom each reaches; officials add and rename them."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from broadcasts.keys import BROADCASTS
from gateway.core.errors import InvalidRequest
from gateway.web import pages

routes = web.RouteTableDef()


@routes.get("/hamlets")
@aiohttp_jinja2.template("hamlets.html")
async def hamlets_page(request: web.Request) -> dict[str, Any]:
    await pages.official(request)
    return {"hamlets": await request.app[BROADCASTS].hamlets_summary()}


@routes.post("/hamlets")
async def add_hamlet_page(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)

    async def work() -> pages.Done:
        b = request.app[BROADCASTS]
        name = " ".join(str(form.get("name", "")).split())
        if name.casefold() in {h.casefold() for h in await b.hamlet_names()}:
            raise InvalidRequest(f"Thôn {name} đã có trong danh sách: không thêm lần nữa.", field="name")
        made = await b.add_hamlet(name)
        return pages.Done(f"Đã thêm thôn {made['name']}.", "thêm thôn", {"name": made["name"]})

    await pages.act(request, user, "/hamlets", work)


@routes.post("/hamlets/{id:\\d{1,9}}/rename")
async def rename_hamlet_page(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    name = str(form.get("name", ""))

    async def work() -> pages.Done:
        await request.app[BROADCASTS].rename_hamlet(int(request.match_info["id"]), name)
        return pages.Done(
            f"Đã đổi tên thôn thành {name.strip()}.", "đổi tên thôn", {"id": request.match_info["id"], "name": name}
        )

    await pages.act(request, user, "/hamlets", work)
