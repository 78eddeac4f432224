"""The console's own pages: login and logout, users and their API tokens, the audit log."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

from gateway.core import commune
from gateway.core.errors import LoaError, LoginRefused
from gateway.core.keys import CLOCK, STORE
from gateway.web import accounts, pages
from gateway.web.accounts import ROLE_NAMES
from gateway.web.config import WebConfig

routes = web.RouteTableDef()
WEB = web.AppKey("web", WebConfig)


def setup(app: web.Application, config: WebConfig) -> None:
    app[WEB] = config
    app.add_routes(routes)


@routes.get("/login")
@aiohttp_jinja2.template("login.html")
async def login_page(request: web.Request) -> dict[str, Any]:
    return {"username": "", "error": None}


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    form = await pages.form(request)
    username = str(form.get("username", ""))
    config = request.app[WEB]
    store, now = request.app[STORE], request.app[CLOCK]()
    try:
        user = await store.call(
            accounts.login,
            username,
            str(form.get("password", "")),
            request.remote or "?",
            now,
            config.lock_after,
            config.lock_minutes * 60,
        )
    except LoginRefused as e:
        await store.call(accounts.audit, username, "login refused", e.message, now)
        context = {"username": username, "error": e.message}
        return aiohttp_jinja2.render_template("login.html", request, context, status=401)
    session = await new_session(request)
    session["user_id"] = user.id
    session["csrf"] = secrets.token_urlsafe(24)
    await store.call(accounts.audit, user.username, "login", "", now)
    raise web.HTTPSeeOther("/")


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await pages.form(request)
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther("/login")


@routes.get("/users")
@aiohttp_jinja2.template("users.html")
async def users_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin")
    session = await get_session(request)
    return {
        "users": await request.app[STORE].call(accounts.users),
        "token": session.pop("token", None),
        "roles": ROLE_NAMES,
        "hamlets": [h.name for h in await request.app[STORE].call(commune.hamlets)],
    }


@routes.post("/users")
async def add_user(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin")
    form = await pages.form(request)
    try:
        made = await request.app[STORE].call(
            accounts.add_user,
            str(form.get("username", "")),
            str(form.get("password", "")),
            str(form.get("role", "")),
            str(form.get("hamlet", "")) or None,
            request.app[CLOCK](),
        )
    except LoaError as e:
        await pages.flash(request, e.message, "error")
    else:
        await pages.audit(request, user, "add user", {"username": made.username, "role": made.role})
        await pages.flash(request, f"Đã tạo tài khoản {made.username}.")
    raise web.HTTPSeeOther("/users")


@routes.post("/users/{id:\\d+}/token")
async def new_token(request: web.Request) -> web.StreamResponse:
    user = await pages.user(request, "admin")
    await pages.form(request)
    target = int(request.match_info["id"])
    session = await get_session(request)
    session["token"] = await request.app[STORE].call(accounts.new_token, target, "console", request.app[CLOCK]())
    await pages.audit(request, user, "new API token", {"user_id": target})
    raise web.HTTPSeeOther("/users")


@routes.get("/audit")
@aiohttp_jinja2.template("audit.html")
async def audit_page(request: web.Request) -> dict[str, Any]:
    await pages.user(request, "admin")
    rows = await request.app[STORE].call(accounts.audit_log, 300)
    for r in rows:
        r["when"] = pages.when(request, r["at"])
    return {"rows": rows}
