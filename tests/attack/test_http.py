"""HTTP under attack: answers that were 500 are 400, bodies have sizes, every answer carries its guards."""

from __future__ import annotations

import io
from typing import Any

from gateway.testing import AUTH, csrf_of, sql

GUARDS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


async def test_every_kind_of_answer_carries_the_security_headers(gateway: Any) -> None:
    answers = [
        await gateway.get("/login"),
        await gateway.get("/", allow_redirects=False),
        await gateway.get("/healthz"),
        await gateway.get("/api/v1/contacts", headers=AUTH),
        await gateway.get("/api/v1/contacts"),  # 401
        await gateway.get("/no-such-page"),  # 404
        await gateway.get("/static/loa.css"),
    ]
    for resp in answers:
        for header in GUARDS:
            assert header in resp.headers, (resp.url, resp.status, header)
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert "script-src" not in resp.headers["Content-Security-Policy"]  # default-src 'self': no inline script


async def test_the_session_cookie_survives_a_link_followed_from_another_site(gateway: Any) -> None:
    resp = await gateway.get("/login")
    assert "SameSite=Lax" in resp.headers["Set-Cookie"] and "HttpOnly" in resp.headers["Set-Cookie"]


async def test_what_used_to_be_a_server_error_is_a_clear_400(gateway: Any) -> None:
    huge = await gateway.get("/api/v1/messages/" + "9" * 40, headers=AUTH)
    assert huge.status == 400 and (await huge.json())["field"] == "id"
    nested = await gateway.post("/api/v1/messages", data="[" * 100_000 + "]" * 100_000, headers=AUTH)
    assert nested.status == 400 and "JSON" in (await nested.json())["error"]
    bom = b"\xef\xbb\xbfT\xc3\xaan,S\xc4\x90T\nMai,0912345678\xff\n"
    csv = await gateway.post("/api/v1/contacts/import", data=bom, headers=AUTH)
    assert csv.status == 400 and (await csv.json())["field"] == "file"
    csrf = await csrf_of(gateway, "/login")
    body = f"csrf={csrf}&username=%FF%FE&password=x".encode()
    raw = await gateway.post(
        "/login", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"}, allow_redirects=False
    )
    assert raw.status in (400, 401)
    assert await sql(gateway, "select count(*) from contacts") == [(0,)]


async def test_each_path_has_its_own_body_size(gateway: Any) -> None:
    big_json = await gateway.post("/api/v1/messages", data=io.BytesIO(b"{" + b" " * 2_000_000 + b"}"), headers=AUTH)
    assert big_json.status == 413
    rows = "".join(f"Người {i},09{i:08d},Nà Phìn\n" for i in range(60_000))
    csv = ("Tên,SĐT,Thôn\n" + rows).encode()
    assert 1_048_576 < len(csv) < 5 * 1_048_576  # bigger than any JSON body, within the documented 5 MB
    imported = await gateway.post("/api/v1/contacts/import", data=io.BytesIO(csv), headers=AUTH)
    assert imported.status == 200, await imported.text()
    too_big = await gateway.post("/api/v1/contacts/import", data=io.BytesIO(csv * 3), headers=AUTH)
    assert too_big.status == 413


async def test_a_body_without_its_length_is_refused_before_it_is_read(gateway: Any) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 100_000  # 10 MB, in pieces with no total announced

    resp = await gateway.post("/api/v1/messages", data=chunks(), headers=AUTH)
    assert resp.status == 411
