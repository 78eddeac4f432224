"""HTTP views of the residents' service: the knowledge base, the officials' inbox, hamlets."""

from __future__ import annotations

from aiohttp import web

from gateway.errors import InvalidRequest
from gateway.keys import RESIDENTS, STORE
from gateway.keywords import kb
from gateway.keywords import service as svc
from gateway.web.http import authorise, int_param, iso, json_response, read_json

routes = web.RouteTableDef()


@routes.get("/api/v1/procedures")
async def list_procedures(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    procedures = await request.app[STORE].call(kb.all_procedures)
    return json_response({"procedures": [p.as_json() for p in procedures]})


@routes.put("/api/v1/procedures/{key}")
async def put_procedure(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    residents = request.app[RESIDENTS]
    procedure = kb.parse(await read_json(request), key=request.match_info["key"])
    await request.app[STORE].call(kb.upsert, procedure, residents.clock())
    await residents.reload()
    return json_response(procedure.as_json())


@routes.get("/api/v1/questions")
async def list_questions(request: web.Request) -> web.Response:
    await authorise(request, "admin", "official")
    status = request.query.get("status")
    if status not in (None, "open", "answered"):
        raise InvalidRequest("status phải là open hoặc answered", field="status")
    limit = min(max(int_param(request.query.get("limit", "100"), "limit"), 1), 500)
    rows = await request.app[STORE].call(svc.list_questions, status, limit)
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

    def query(db: object) -> list[dict[str, object]]:
        return list(
            db.query(  # type: ignore[attr-defined]
                "select h.id, h.name, count(s.number) as subscribers from hamlets h"
                " left join subscriptions s on s.hamlet_id = h.id group by h.id order by h.name"
            )
        )

    return json_response({"hamlets": await request.app[STORE].call(query)})
