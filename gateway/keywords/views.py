"""The residents' service over HTTP: the knowledge base and the officials' inbox, API and pages."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from gateway.core.errors import InvalidRequest, LoaError
from gateway.keywords import kb
from gateway.keywords.service import Residents
from gateway.web import pages
from gateway.web.http import authorise, int_param, iso, json_response, read_json

routes = web.RouteTableDef()
RESIDENTS = web.AppKey("residents", Residents)


def setup(app: web.Application, residents: Residents) -> None:
    app[RESIDENTS] = residents
    app.add_routes(routes)


@routes.get("/api/v1/procedures")
async def list_procedures(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    procedures = await request.app[RESIDENTS].all_procedures()
    return json_response({"procedures": [p.as_json() for p in procedures]})


@routes.put("/api/v1/procedures/{key}")
async def put_procedure(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    procedure = kb.parse(await read_json(request), key=request.match_info["key"])
    await request.app[RESIDENTS].save_procedure(procedure)
    return json_response(procedure.as_json())


@routes.get("/api/v1/questions")
async def list_questions(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    status = request.query.get("status")
    if status not in (None, "open", "answered"):
        raise InvalidRequest("status phải là open hoặc answered", field="status")
    limit = min(max(int_param(request.query.get("limit", "100"), "limit"), 1), 500)
    rows = await request.app[RESIDENTS].questions(status, limit)
    return json_response(
        {
            "questions": [
                {
                    "id": r["id"],
                    "from": r["sender"],
                    "text": r["text"],
                    "status": r["status"],
                    "received_at": iso(r["created_at"]),
                    "answer": r["answer"],
                    "answered_at": iso(r["answered_at"]),
                    "message_id": r["message_id"],
                }
                for r in rows
            ]
        }
    )


@routes.post("/api/v1/questions/{id}/answer")
async def answer_question(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    body = await read_json(request)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("Thiếu nội dung trả lời 'text' (text missing)", field="text")
    question_id = int_param(request.match_info["id"], "id")
    result = await request.app[RESIDENTS].answer_question(question_id, text)
    return json_response(result, status=202)


@routes.get("/api/v1/hamlets")
async def list_hamlets(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    return json_response({"hamlets": await request.app[RESIDENTS].hamlets_with_subscribers()})


# ---- console pages ----


@routes.get("/questions")
@aiohttp_jinja2.template("questions.html")
async def questions_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin", "official")
    residents = request.app[RESIDENTS]
    open_ = await residents.questions("open", 200)
    answered = await residents.questions("answered", 50)
    for q in [*open_, *answered]:
        q["when"] = pages.when(request, q["created_at"])
    return {"open": open_, "answered": answered}


@routes.post("/questions/{id:\\d{1,9}}/answer")
async def answer(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    text = str(form.get("text", "")).strip()
    question_id = int(request.match_info["id"])
    if not text:
        await pages.flash(request, "Câu trả lời trống: chưa gửi.", "error")
    else:
        try:
            result = await request.app[RESIDENTS].answer_question(question_id, text)
        except LoaError as e:
            await pages.flash(request, e.message, "error")
        else:
            await pages.audit(request, user, "answer question", {"question": question_id, "text": text})
            await pages.flash(request, f"Đã gửi câu trả lời ({result['segments']} tin nhắn).")
    raise web.HTTPSeeOther("/questions")


@routes.get("/procedures")
@aiohttp_jinja2.template("procedures.html")
async def procedures_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin", "official")
    return {"procedures": await request.app[RESIDENTS].all_procedures(), "errors": {}}


@routes.post("/procedures/{key:[A-Za-z]{2,3}}")
async def save_procedure(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin", "official")
    form = await pages.form(request)
    key = request.match_info["key"].upper()
    raw: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "synonyms": [x.strip() for x in str(form.get("synonyms", "")).split(",") if x.strip()],
        "answer": str(form.get("answer", "")),
        "answer_plain": str(form.get("answer_plain", "")),
        "checked_on": str(form.get("checked_on", "")),
        "checked_by": str(form.get("checked_by", "")),
        "status": "checked" if form.get("checked") else "unconfirmed",
    }
    residents = request.app[RESIDENTS]
    try:
        procedure = kb.parse(raw, key=key)
    except LoaError as e:
        # show the page again with what was typed, the error beside its field
        procedures = await residents.all_procedures()
        typed = [kb.Procedure(key, raw["name"], tuple(raw["synonyms"]), raw["answer"], raw["answer_plain"],
                              raw["checked_on"], raw["checked_by"], raw["status"]) if p.key == key else p
                 for p in procedures]  # fmt: skip
        field = e.details.get("field", "other")
        errors = {key: {field if field in ("answer", "answer_plain") else "other": e.message}}
        context = {"procedures": typed, "errors": errors}
        return aiohttp_jinja2.render_template("procedures.html", request, context, status=400)
    await residents.save_procedure(procedure)
    await pages.audit(request, user, "edit procedure", raw | {"key": key})
    await pages.flash(request, f"Đã lưu câu trả lời {key}.")
    raise web.HTTPSeeOther(f"/procedures#procedure-{key}")
