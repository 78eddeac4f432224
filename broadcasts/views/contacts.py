"""The console's phone book: searched by name or number, filtered by hamlet and role; officials add,
edit, delete and import a spreadsheet's CSV."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from broadcasts import people
from broadcasts.keys import BROADCASTS
from gateway.core.errors import InvalidRequest
from gateway.web import pages

routes = web.RouteTableDef()
REPORT_LINES = 10  # lines of an import's report the page lists


@routes.get("/contacts")
@aiohttp_jinja2.template("contacts.html")
async def contacts_page(request: web.Request) -> dict[str, Any]:
    """The phone book: searched by name or number, filtered by hamlet and role; officials add, edit, delete."""
    user = await pages.user(request)
    session = await get_session(request)
    q = request.query.get("q", "")[:100].strip()
    hamlet = request.query.get("hamlet", "")[:100]
    role = request.query.get("role", "")
    b = request.app[BROADCASTS]
    shown, total = await b.search_contacts(user, q, hamlet, role)
    opted = await b.opted_out_numbers()
    for c in shown:
        c["opted_out"] = c["number"] in opted
    return {
        "contacts": shown[:500],
        "total": total,
        "matching": len(shown),
        "report": session.pop("import_report", None),
        "filters": {"q": q, "hamlet": hamlet, "role": role},
        "hamlets": await b.hamlet_names(),
        "roles": people.ROLES,
        "role_names": people.ROLE_NAMES,
        "form": {"name": "", "number": "", "hamlet": hamlet, "roles": ["resident"]},
        "errors": {},
    }


def _contact_form(form: Any) -> dict[str, Any]:
    return {
        "name": str(form.get("name", "")).strip(),
        "number": str(form.get("number", "")).strip(),
        "hamlet": str(form.get("hamlet", "")),
        "roles": [str(r) for r in form.getall("roles", [])] or ["resident"],
    }


@routes.post("/contacts")
async def add_contact_page(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)

    async def work() -> pages.Done:
        made = await request.app[BROADCASTS].add_contact(_contact_form(form))
        who = {"name": made["name"], "number": made["number"]}
        return pages.Done(
            f"Đã thêm {who['name']} ({who['number']}).", "thêm liên hệ", who, f"/contacts?q={who['number']}"
        )

    await pages.act(request, user, "/contacts#add-contact", work)


@routes.get("/contacts/{id:\\d{1,9}}/edit")
@aiohttp_jinja2.template("contact_edit.html")
async def edit_contact_page(request: web.Request) -> dict[str, Any]:
    await pages.official(request)
    b = request.app[BROADCASTS]
    contact = await b.contact(int(request.match_info["id"]))
    return {"contact": contact, "hamlets": await b.hamlet_names(), "roles": people.ROLES,
            "role_names": people.ROLE_NAMES}  # fmt: skip


@routes.post("/contacts/{id:\\d{1,9}}/{action:edit|delete}")
async def change_contact(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    contact_id = int(request.match_info["id"])
    b = request.app[BROADCASTS]

    async def work() -> pages.Done:
        if request.match_info["action"] == "delete":
            gone = await b.delete_contact(contact_id)
            who = {"name": gone["name"], "number": gone["number"]}
            return pages.Done(f"Đã xoá {who['name']} ({who['number']}).", "xoá liên hệ", who, "/contacts")
        changed = await b.update_contact(contact_id, _contact_form(form))
        who = {"name": changed["name"], "number": changed["number"]}
        return pages.Done(f"Đã lưu {who['name']}.", "sửa liên hệ", who, f"/contacts?q={who['number']}")

    await pages.act(request, user, f"/contacts/{contact_id}/edit", work)


@routes.post("/contacts/import")
async def import_contacts_page(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)

    async def work() -> pages.Done:
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise InvalidRequest("Hãy chọn tệp CSV.", field="file")
        report = await request.app[BROADCASTS].import_contacts(upload.file.read())
        # the report is the page's own box, not a flash. It travels in the session cookie (4 KB at most
        # in a browser): the first lines refused or converted, and how many in all; the API lists all
        (await get_session(request))["import_report"] = {
            "imported": report.imported,
            "merged": report.merged,
            "converted": report.converted[:REPORT_LINES],
            "converted_total": len(report.converted),
            "rejected": [
                {"line": r["line"], "name": r.get("name", ""), "reason": pages.plain(r["reason"])[:120]}
                for r in report.rejected[:REPORT_LINES]
            ],
            "rejected_total": len(report.rejected),
        }
        return pages.Done("", "nhập danh bạ", {"imported": report.imported, "rejected": len(report.rejected)})

    await pages.act(request, user, "/contacts", work)
