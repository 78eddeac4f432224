"""The residents' service over HTTP: the knowledge base and the officials' inbox, API and pages."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session

from gateway.core.errors import InvalidRequest, LoaError
from gateway.residents import kb
from gateway.residents.keys import RESIDENTS
from gateway.sms.encoding import prepare
from gateway.web import pages
from gateway.web.http import authorise_official, int_param, iso, json_response, read_json
from gateway.web.keys import NAMES

routes = web.RouteTableDef()


def setup(app: web.Application) -> None:
    app.add_routes(routes)


@routes.get("/api/v1/procedures")
async def list_procedures(request: web.Request) -> web.Response:
    await authorise_official(request)
    procedures = await request.app[RESIDENTS].all_procedures()
    return json_response({"procedures": [p.as_json() for p in procedures]})


@routes.put("/api/v1/procedures/{key}")
async def put_procedure(request: web.Request) -> web.Response:
    await authorise_official(request)
    procedure = kb.parse(await read_json(request), key=request.match_info["key"])
    await request.app[RESIDENTS].save_procedure(procedure)
    return json_response(procedure.as_json())


@routes.get("/api/v1/questions")
async def list_questions(request: web.Request) -> web.Response:
    await authorise_official(request)
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
                    "from_name": bool(r["alphanumeric"]),
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
    """{"text": "..."} answers in words; {"procedure": "KS"} with that procedure's answer, and teaches the matcher."""
    user = await authorise_official(request)
    body = await read_json(request)
    question_id = int_param(request.match_info["id"], "id")
    procedure = body.get("procedure")
    if procedure is not None:
        if not isinstance(procedure, str):
            raise InvalidRequest("'procedure' phải là mã thủ tục, ví dụ KS", field="procedure")
        result = await request.app[RESIDENTS].answer_with_procedure(question_id, procedure, user.username)
        return json_response(result, status=202)
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest("Thiếu nội dung trả lời 'text' hoặc mã 'procedure' (text missing)", field="text")
    result = await request.app[RESIDENTS].answer_question(question_id, text)
    return json_response(result, status=202)


@routes.post("/api/v1/questions/{id}/not-a-procedure")
async def not_a_procedure(request: web.Request) -> web.Response:
    user = await authorise_official(request)
    question_id = int_param(request.match_info["id"], "id")
    await request.app[RESIDENTS].not_a_procedure(question_id, user.username)
    return json_response({"question": question_id, "procedure": None})


@routes.get("/api/v1/examples")
async def list_examples(request: web.Request) -> web.Response:
    await authorise_official(request)
    rows = await request.app[RESIDENTS].examples()
    return json_response(
        {
            "examples": [
                {"id": r["id"], "text": r["text"], "procedure": r["key"] or None, "question": r["question_id"],
                 "by": r["created_by"], "created_at": iso(r["created_at"])}
                for r in rows
            ]
        }
    )  # fmt: skip


@routes.delete("/api/v1/examples/{id}")
async def delete_example(request: web.Request) -> web.Response:
    await authorise_official(request)
    await request.app[RESIDENTS].remove_example(int_param(request.match_info["id"], "id"))
    return web.Response(status=204)


@routes.get("/api/v1/not-questions")
async def get_not_questions(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response({"items": list(await request.app[RESIDENTS].not_questions())})


@routes.put("/api/v1/not-questions")
async def put_not_questions(request: web.Request) -> web.Response:
    await authorise_official(request)
    items = kb.parse_not_questions((await read_json(request)).get("items"))
    await request.app[RESIDENTS].save_not_questions(items)
    return json_response({"items": list(items)})


@routes.get("/api/v1/hamlets")
async def list_hamlets(request: web.Request) -> web.Response:
    await authorise_official(request)
    return json_response({"hamlets": await request.app[RESIDENTS].hamlets_with_subscribers()})


# ---- console pages ----


@routes.get("/questions")
@aiohttp_jinja2.template("questions.html")
async def questions_page(request: web.Request) -> dict[str, Any]:
    await pages.official(request)
    residents = request.app[RESIDENTS]
    open_ = await residents.questions("open", 200)
    answered = await residents.questions("answered", 50)
    auto = await residents.auto_answers(50)
    names = await request.app[NAMES]([q["sender"] for q in [*open_, *answered, *auto]]) if NAMES in request.app else {}
    for q in [*open_, *answered, *auto]:
        q["when"] = pages.when(request, q["created_at"])
        q["name"] = names.get(q["sender"], "")
    procedures = [
        {"key": p.key, "name": p.name, "segments": prepare(p.reply(residents.policy), residents.policy).segments,
         "answer": p.reply(residents.policy)}
        for p in residents.procedures.values()
    ]  # fmt: skip
    by_key = {p["key"]: p["name"] for p in procedures}
    for a in auto:
        a["procedure_name"] = by_key.get(a["key"], a["key"])
    return {"open": open_, "answered": answered, "auto": auto, "procedures": procedures}


@routes.post("/questions/auto/{id:\\d{1,9}}/wrong")
async def wrong_answer(request: web.Request) -> web.StreamResponse:
    """ "Sai — dạy lại": a wrong automatic answer back among the open questions, to answer and teach."""
    user = await pages.official(request)
    await pages.form(request)
    auto_id = int(request.match_info["id"])

    async def work() -> pages.Done:
        question_id = await request.app[RESIDENTS].teach_again(auto_id)
        note = "Đã chuyển câu này vào Chưa trả lời: chọn thủ tục đúng rồi gửi, lần sau xã tự trả lời đúng."
        return pages.Done(note, "báo tự trả lời sai", {"id": auto_id}, f"/questions#question-{question_id}")

    await pages.act(request, user, "/questions#auto-answers", work)


@routes.post("/questions/{id:\\d{1,9}}/answer")
async def answer(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    text = str(form.get("text", "")).strip()
    question_id = int(request.match_info["id"])

    async def work() -> pages.Done:
        if not text:
            raise InvalidRequest("Câu trả lời trống: chưa gửi.", field="text")
        result = await request.app[RESIDENTS].answer_question(question_id, text)
        note = f"Đã gửi câu trả lời ({result['segments']} tin nhắn)."
        return pages.Done(note, "trả lời câu hỏi", {"question": question_id, "text": text})

    await pages.act(request, user, "/questions", work)


@routes.post("/questions/{id:\\d{1,9}}/procedure")
async def answer_with_procedure(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    question_id = int(request.match_info["id"])
    key = str(form.get("procedure", "")).strip()
    if not key:
        await pages.flash(request, "Chưa chọn thủ tục: chưa gửi.", "error")
        raise web.HTTPSeeOther(f"/questions#question-{question_id}")

    preview = await _preview(request, form, question_id, key)
    if preview is not None:
        return preview

    async def work() -> pages.Done:
        result = await request.app[RESIDENTS].answer_with_procedure(question_id, key, user.username)
        note = (
            f"Đã gửi câu trả lời {key.upper()} ({result['segments']} tin nhắn). "
            "Câu hỏi được lưu làm ví dụ: lần sau dân hỏi như vậy, xã tự trả lời."
        )
        return pages.Done(note, "trả lời câu hỏi", {"question": question_id, "procedure": key})

    await pages.act(request, user, "/questions", work)


@routes.post("/questions/{id:\\d{1,9}}/not-a-procedure")
async def mark_not_a_procedure(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    question_id = int(request.match_info["id"])
    preview = await _preview(request, form, question_id, "")
    if preview is not None:
        return preview

    async def work() -> pages.Done:
        await request.app[RESIDENTS].not_a_procedure(question_id, user.username)
        note = "Đã ghi: không phải thủ tục. Tin giống vậy sẽ chuyển cho cán bộ, không tự trả lời."
        return pages.Done(note, "đánh dấu không phải thủ tục", {"question": question_id})

    await pages.act(request, user, f"/questions#question-{question_id}", work)


async def _preview(request: web.Request, form: Any, question_id: int, key: str) -> web.Response | None:
    """A teaching that would change other answers is shown to the official first: the page lists
    them, and saving it takes a second, confirmed post. None: nothing else changes, or confirmed."""
    if form.get("confirm") == "1":
        return None
    try:
        changes = await request.app[RESIDENTS].teaching_changes(question_id, key)
    except LoaError:
        return None  # the work itself says what is wrong
    if not changes:
        return None
    context = {"question_id": question_id, "procedure": key, "changes": changes,
               "action": f"/questions/{question_id}/{'procedure' if key else 'not-a-procedure'}"}  # fmt: skip
    return aiohttp_jinja2.render_template("teach_preview.html", request, context)


@routes.get("/procedures")
@aiohttp_jinja2.template("procedures.html")
async def procedures_page(request: web.Request) -> dict[str, Any]:
    await pages.official(request)
    return await _procedures_context(request, None, {})


async def _procedures_context(
    request: web.Request, typed: kb.Procedure | None, errors: dict[str, dict[str, str]]
) -> dict[str, Any]:
    residents = request.app[RESIDENTS]
    procedures = [typed if typed is not None and p.key == typed.key else p for p in await residents.all_procedures()]
    examples = await residents.examples()
    for e in examples:
        e["when"] = pages.when(request, e["created_at"])
    names = {p.key: p.name for p in procedures}
    return {
        "saved": (await get_session(request)).pop("saved", None),
        "procedures": procedures,
        "errors": errors,
        "examples": examples,
        "names": names,
        "not_questions": await residents.not_questions(),
    }


@routes.post("/procedures/not-questions")
async def save_not_questions(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    items = [x.strip() for x in str(form.get("items", "")).split(",") if x.strip()]

    async def work() -> pages.Done:
        parsed = kb.parse_not_questions(items)
        await request.app[RESIDENTS].save_not_questions(parsed)
        return pages.Done("Đã lưu các cụm từ mời / thông báo.", "sửa cụm từ mời, thông báo", {"items": list(parsed)})

    await pages.act(request, user, "/procedures#not-questions", work)


@routes.post("/examples/{id:\\d{1,9}}/delete")
async def delete_example_page(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    await pages.form(request)
    example_id = int(request.match_info["id"])

    async def work() -> pages.Done:
        await request.app[RESIDENTS].remove_example(example_id)
        return pages.Done("Đã xoá ví dụ.", "xoá ví dụ", {"example": example_id})

    await pages.act(request, user, "/procedures#examples", work)


@routes.post("/procedures/{key:[A-Za-z]{2,3}}")
async def save_procedure(request: web.Request) -> web.StreamResponse:
    user = await pages.official(request)
    form = await pages.form(request)
    key = request.match_info["key"].upper()
    raw: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "synonyms": [x.strip() for x in str(form.get("synonyms", "")).split(",") if x.strip()],
        "situations": [x.strip() for x in str(form.get("situations", "")).split(",") if x.strip()],
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
        typed = kb.Procedure(key, raw["name"], tuple(raw["synonyms"]), raw["answer"], raw["answer_plain"],
                             raw["checked_on"], raw["checked_by"], raw["status"], tuple(raw["situations"]))  # fmt: skip
        field = e.details.get("field", "other")
        errors = {key: {field if field in ("answer", "answer_plain") else "other": pages.plain(e.message)}}
        context = await _procedures_context(request, typed, errors)
        return aiohttp_jinja2.render_template("procedures.html", request, context, status=400)
    await residents.save_procedure(procedure)
    await pages.audit(request, user, "sửa câu trả lời thủ tục", raw | {"key": key})
    # the confirmation inside the card just saved, where the eye is (the page opens there)
    (await get_session(request))["saved"] = key
    raise web.HTTPSeeOther(f"/procedures#procedure-{key}")
