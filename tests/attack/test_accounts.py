"""Accounts under attack: stolen cookies, lockouts, look-alike names, tokens, the audit log's size."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import ClientSession
from aiohttp.test_utils import TestClient

from gateway.core.errors import LoginRefused
from gateway.core.keys import STORE
from gateway.core.principal import User
from gateway.testing import VN, csrf_of, log_in, sql
from gateway.web import accounts

PASSWORD = "matkhau-an-toan-1"


async def add(client: Any, username: str, role: str = "admin", hamlet: str | None = None) -> User:
    user: User = await client.app[STORE].call(accounts.add_user, username, PASSWORD, role, hamlet, time.time())
    return user


def cookie(client: TestClient[Any, Any]) -> str:
    return next(c.value for c in client.session.cookie_jar if c.key == "loa_session")


async def with_cookie(client: TestClient[Any, Any], value: str, path: str) -> int:
    """A request carrying a copied session cookie, as a thief would send it."""
    async with ClientSession(cookies={"loa_session": value}) as thief:
        resp = await thief.get(client.make_url(path), allow_redirects=False)
        return resp.status


async def test_a_cookie_copied_before_logout_is_dead_after_it(gateway: Any) -> None:
    await add(gateway, "quantri")
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    stolen = cookie(gateway)
    assert await with_cookie(gateway, stolen, "/users") == 200
    csrf = await csrf_of(gateway, "/users")
    assert (await gateway.post("/logout", data={"csrf": csrf}, allow_redirects=False)).status == 303
    assert await with_cookie(gateway, stolen, "/users") == 303  # to the login page
    assert await sql(gateway, "select count(*) from sessions") == [(0,)]


async def test_a_new_password_or_a_disabled_account_ends_every_session_and_token(gateway: Any) -> None:
    admin = await add(gateway, "quantri")
    victim = await add(gateway, "canbo", "official")
    token = await gateway.app[STORE].call(accounts.new_token, victim.id, "test", time.time())
    assert await log_in(gateway, "canbo", PASSWORD) == 303
    stolen = cookie(gateway)
    assert await with_cookie(gateway, stolen, "/") == 200
    gateway.session.cookie_jar.clear()
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    csrf = await csrf_of(gateway, "/users")
    await gateway.post(f"/users/{victim.id}/password", data={"csrf": csrf, "password": "mat-khau-moi-2"})
    assert await with_cookie(gateway, stolen, "/") == 303
    await gateway.post(f"/users/{victim.id}/disable", data={"csrf": csrf})
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await gateway.get("/api/v1/contacts", headers=bearer)).status == 401
    gateway.session.cookie_jar.clear()
    assert await log_in(gateway, "canbo", "mat-khau-moi-2") == 401
    assert admin.id != victim.id


async def test_wrong_passwords_lock_that_address_only_and_an_admin_unlocks(gateway: Any) -> None:
    admin = await add(gateway, "quantri")
    store, now = gateway.app[STORE], time.time()
    attacker, owner = "203.0.113.9", "192.168.1.20"

    async def attempt(address: str, password: str) -> str:
        try:
            await store.call(accounts.login, "quantri", password, address, now, 10, 900.0, VN)
        except LoginRefused as e:
            return e.message
        return "ok"

    for _ in range(10):
        assert await attempt(attacker, "sai-mat-khau") == "Sai tên đăng nhập hoặc mật khẩu"
    assert (await attempt(attacker, PASSWORD)).startswith("Tài khoản đang bị khoá trên máy này đến")
    assert await attempt(owner, PASSWORD) == "ok"  # the owner elsewhere is not locked out
    rows = await store.call(accounts.users, now, 10, 900.0)
    assert [r["locked_until"] for r in rows if r["username"] == "quantri"] == [now + 900.0]
    await store.call(accounts.unlock, admin.id)
    assert await attempt(attacker, PASSWORD) == "ok"


async def test_a_look_alike_username_is_refused(gateway: Any) -> None:
    await add(gateway, "admin1")
    assert await log_in(gateway, "quantri", PASSWORD) == 401
    await add(gateway, "quantri")
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    csrf = await csrf_of(gateway, "/users")
    resp = await gateway.post(
        "/users", data={"csrf": csrf, "username": "Admin1", "password": PASSWORD, "role": "admin"}
    )
    assert "Đã có tài khoản &#39;Admin1&#39;" in await resp.text()
    assert await sql(gateway, "select username from users order by id") == [("admin1",), ("quantri",)]


async def test_a_revoked_token_stops_working(gateway: Any) -> None:
    user = await add(gateway, "quantri")
    token = await gateway.app[STORE].call(accounts.new_token, user.id, "máy khác", time.time())
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await gateway.get("/api/v1/contacts", headers=bearer)).status == 200
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    (token_id,) = (await sql(gateway, "select id from api_tokens"))[0]
    assert f'action="/tokens/{token_id}/revoke"' in await (await gateway.get("/users")).text()
    csrf = await csrf_of(gateway, "/users")
    await gateway.post(f"/tokens/{token_id}/revoke", data={"csrf": csrf})
    assert (await gateway.get("/api/v1/contacts", headers=bearer)).status == 401


async def test_refused_logins_with_huge_names_keep_the_audit_log_small(gateway: Any) -> None:
    await add(gateway, "quantri")
    for _ in range(5):
        assert await log_in(gateway, "x" * 500_000, "sai") == 401
    (longest,) = (await sql(gateway, "select max(length(user)) from audit"))[0]
    assert longest <= accounts.MAX_NAME
    for i in range(250):
        await gateway.app[STORE].call(accounts.audit, "canbo", "thử", str(i), time.time())
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    page = await (await gateway.get("/audit")).text()
    assert page.count("<tr>") == 101 and 'id="older"' in page
    assert len(page) < 60_000


async def test_a_session_survives_a_restart_and_the_key_file_is_private(
    emulator: Any, start_gateway: Any, tmp_path: Any, caplog: Any
) -> None:
    gateway = await start_gateway(emulator)
    assert "no account yet" in caplog.text  # the first run says how to make one
    login = await (await gateway.get("/login")).text()
    assert 'id="no-accounts"' in login and "loa user add" in login
    await add(gateway, "quantri")
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    kept = cookie(gateway)
    (key_file,) = tmp_path.glob("*.session-key")
    assert key_file.stat().st_mode & 0o077 == 0
    await gateway.close()
    gateway = await start_gateway(emulator)
    assert await with_cookie(gateway, kept, "/users") == 200  # still logged in after the restart
    assert 'id="no-accounts"' not in await (await gateway.get("/login")).text()
    # made where the database will be, even before its folder exists (a first start)
    from gateway.web.pages import kept_key

    assert len(kept_key(tmp_path / "new" / "data" / "loa.sqlite3.session-key")) == 32
    # a damaged key file is replaced: everyone logs in again, nothing fails
    await gateway.close()
    key_file.write_text("not a key")
    gateway = await start_gateway(emulator)
    assert await with_cookie(gateway, kept, "/users") == 303


async def test_after_logging_in_the_console_returns_to_the_page_asked_for_and_only_to_this_site(gateway: Any) -> None:
    await add(gateway, "quantri")
    resp = await gateway.get("/messages?day=2026-12-01", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/messages?day%3D2026-12-01"
    for target, landing in (("/messages?day=2026-12-01", "/messages?day=2026-12-01"), ("//evil.example/", "/"),
                            ("https://evil.example/", "/"), ("/\\evil.example", "/")):  # fmt: skip
        csrf = await csrf_of(gateway, "/login")
        resp = await gateway.post(
            "/login", data={"csrf": csrf, "username": "quantri", "password": PASSWORD, "next": target},
            allow_redirects=False,
        )  # fmt: skip
        assert resp.headers["Location"] == landing
