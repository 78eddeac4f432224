"""The small ones (issue #30, Low 14): a tab in `next`, a token of spaces, the current password guessed
without limit from a stolen session."""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway import config as config_mod
from gateway.core.errors import ConfigError
from gateway.core.keys import STORE
from gateway.core.store import Store
from gateway.testing import csrf_of, log_in
from gateway.web import accounts

PASSWORD = "matkhau-an-toan-1"


@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/\x0b/evil.example"])
async def test_a_control_character_in_next_never_leads_off_the_console(gateway: Any, target: str) -> None:
    await gateway.app[STORE].call(accounts.add_user, "quantri", PASSWORD, "admin", None, time.time())
    csrf = await csrf_of(gateway, "/login")
    data = {"csrf": csrf, "username": "quantri", "password": PASSWORD, "next": target}
    resp = await gateway.post("/login", data=data, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"


@pytest.mark.parametrize("token", [" " * 16, "\t" * 20, "a" * 16, "abcd efgh ijkl mnop"])
def test_a_ussd_token_of_spaces_or_one_letter_is_refused(token: str) -> None:
    with pytest.raises(ConfigError, match="ussd_token"):
        config_mod.from_dict({"residents": {"ussd_token": token}})


def test_a_real_ussd_token_is_taken() -> None:
    assert config_mod.from_dict({"residents": {"ussd_token": "k3V9-qP2x_Lm8Rt4"}}).residents.ussd_token


async def test_the_current_password_cannot_be_guessed_without_limit(gateway: Any) -> None:
    await gateway.app[STORE].call(accounts.add_user, "canbo", PASSWORD, "official", None, time.time())
    assert await log_in(gateway, "canbo", PASSWORD) == 303  # a session someone walked away from
    csrf = await csrf_of(gateway, "/account")
    for i in range(12):
        data = {"csrf": csrf, "old": f"doan-{i}", "new": "mat-khau-moi-2", "again": "mat-khau-moi-2"}
        assert (await gateway.post("/account/password", data=data, allow_redirects=False)).status == 400
    data = {"csrf": csrf, "old": PASSWORD, "new": "mat-khau-moi-2", "again": "mat-khau-moi-2"}
    resp = await gateway.post("/account/password", data=data, allow_redirects=False)
    assert resp.status == 400  # locked: the right one found after the guesses does not count
    assert "khoá" in await resp.text()


async def test_cookies_are_secure_behind_a_tls_proxy(gateway: Any) -> None:
    behind = await gateway.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in behind.headers["Set-Cookie"].lower()
    plain = await gateway.get("/login")
    assert "secure" not in plain.headers.get("Set-Cookie", "").lower()


async def test_an_import_with_3000_bad_rows_still_reports_on_the_page(gateway: Any) -> None:
    await gateway.app[STORE].call(accounts.add_user, "canbo", PASSWORD, "official", None, time.time())
    assert await log_in(gateway, "canbo", PASSWORD) == 303
    csv = "Tên,Số điện thoại,Thôn,Vai trò\r\n" + "".join(f"Người {i},12{i:04d},Nà Phìn,dân\r\n" for i in range(3000))
    form = aiohttp.FormData()
    form.add_field("csrf", await csrf_of(gateway, "/contacts"))
    form.add_field("file", csv.encode(), filename="danhba.csv", content_type="text/csv")
    resp = await gateway.post("/contacts/import", data=form, allow_redirects=False)
    assert resp.status == 303
    assert all(len(v) < 4000 for v in resp.headers.getall("Set-Cookie", []))  # a browser keeps it
    page = await (await gateway.get("/contacts")).text()
    assert "bỏ 3000" in page and "Chỉ liệt kê 10 dòng đầu" in page


async def test_a_cross_site_logout_without_the_forms_token_logs_nobody_out(gateway: Any) -> None:
    """Reported in issue #30 but not reproduced here: kept as a regression test (403, session intact)."""
    await gateway.app[STORE].call(accounts.add_user, "quantri", PASSWORD, "admin", None, time.time())
    assert await log_in(gateway, "quantri", PASSWORD) == 303
    resp = await gateway.post("/logout", data={}, headers={"Origin": "http://evil.example"}, allow_redirects=False)
    assert resp.status == 403 and not resp.headers.getall("Set-Cookie", [])
    assert (await gateway.get("/users", allow_redirects=False)).status == 200


async def test_a_data_folder_open_to_others_is_closed_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    store = Store(folder / "loa.db")
    await store.open()
    try:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE((folder / "loa.db").stat().st_mode) & 0o077 == 0
    finally:
        await store.close()
