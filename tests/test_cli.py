"""The `loa` command as a person uses it: help, config errors, and the standalone emulator as a phone."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from gateway.testing import AUTH, sql, until

LOA = [sys.executable, "-m", "gateway.cli"]


def test_help_lists_the_commands() -> None:
    out = subprocess.run([*LOA, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("run", "emulator", "token", "check-config"):
        assert command in out


def test_a_broken_config_is_reported_with_its_key(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("[modem]\nbaudrate = 'nhanh'\n", encoding="utf-8")
    done = subprocess.run([*LOA, "check-config", "--config", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "modem.baudrate" in done.stderr
    cfg.write_text("[modem]\nbaudrate = 9600\n", encoding="utf-8")
    done = subprocess.run([*LOA, "check-config", "--config", str(cfg)], capture_output=True, text=True)
    assert done.returncode == 0 and "config OK" in done.stdout


def test_an_account_made_on_the_command_line_is_in_the_audit_log(tmp_path: Path) -> None:
    import sqlite3

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path / "loa.sqlite3"}"\n', encoding="utf-8")
    done = subprocess.run(
        [*LOA, "user", "add", "quantri", "--role", "admin", "--password-stdin", "--config", str(cfg)],
        input="matkhau-an-toan-1\n", capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(tmp_path / "loa.sqlite3") as db:
        rows = db.execute("select user, action, detail from audit").fetchall()
    assert len(rows) == 1 and rows[0][0].startswith("dòng lệnh (")
    assert rows[0][1:] == ("thêm tài khoản", '{"username": "quantri", "role": "admin"}')


def test_a_hamlet_head_for_an_unknown_hamlet_is_told_how_to_add_it(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\npath = "{tmp_path / "loa.sqlite3"}"\n[commune]\nhamlets = ["Nà Phìn"]\n', encoding="utf-8"
    )
    add = [*LOA, "user", "add", "lomai", "--role", "hamlet_head", "--password-stdin", "--config", str(cfg)]
    done = subprocess.run([*add, "--hamlet", "Khau Phạ"], input="matkhau-an-toan-1\n", capture_output=True, text=True)
    assert done.returncode == 2
    said = done.stderr
    assert "xã không có thôn 'Khau Phạ'" in said and "Nà Phìn" in said and "[commune] hamlets" in said
    assert "trang Thôn" in said and "Traceback" not in said
    # a hamlet of the config is there before Loa ever started
    done = subprocess.run([*add, "--hamlet", "na phin"], input="matkhau-an-toan-1\n", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Đã thêm tài khoản lomai (hamlet_head)" in done.stdout
    helped = subprocess.run([*LOA, "user", "add", "--help"], capture_output=True, text=True, check=True).stdout
    assert "default: admin" in " ".join(helped.split())


async def test_a_person_plays_the_phone_on_the_standalone_emulator(tmp_path: Path, aiohttp_client: Any) -> None:
    from gateway.app import create_app
    from gateway.sms.keys import TRANSPORT
    from gateway.testing import make_config

    proc = await asyncio.create_subprocess_exec(
        *LOA,
        "emulator",
        "--link-dir",
        str(tmp_path / "not-made-yet" / "loa"),  # a fresh boot's /tmp: the emulator makes it
        "--submit-delay",
        "0",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            first = (await proc.stdout.readline()).decode()
            port = re.search(r"modem at: (\S+)", first).group(1)  # type: ignore[union-attr]
            client = await aiohttp_client(create_app(make_config(tmp_path, port)))

            async def connected() -> bool:
                return bool(client.app[TRANSPORT].info.connected)

            await until(client, connected)
            proc.stdin.write("sms 0961234567 Cho em hỏi làm khai sinh cần gì ạ\n".encode())
            await proc.stdin.drain()

            async def arrived() -> bool:
                return bool(await sql(client, "select 1 from inbox"))

            await until(client, arrived)
            resp = await client.get("/api/v1/inbox", headers=AUTH)
            (message,) = (await resp.json())["messages"]
            assert message["from"] == "+84961234567"
            assert message["text"] == "Cho em hỏi làm khai sinh cần gì ạ"

            resp = await client.post(
                "/api/v1/messages",
                json={"to": "0961234567", "text": "Mang CCCD và giấy chứng sinh đến UBND xã"},
                headers=AUTH,
            )
            assert resp.status == 202
            sent: list[str] = []
            while len(sent) < 2:
                line = (await proc.stdout.readline()).decode()
                assert line, "emulator exited"
                if "← to" in line:
                    sent.append(line.strip())
            # the automatic answer to the question, then the official's message
            assert sent[0].startswith("← to +84961234567 (2 part(s)): Khai sinh: trong 60 ngày")
            assert sent[1] == "← to +84961234567 (1 part(s)): Mang CCCD và giấy chứng sinh đến UBND xã"
            await client.close()
    finally:
        proc.stdin.write(b"quit\n")
        await proc.stdin.drain()
        async with asyncio.timeout(10):
            await proc.wait()


async def test_the_first_account_is_made_while_loa_runs_and_works_at_once(
    emulator: Any, start_gateway: Any, tmp_path: Path
) -> None:
    from gateway.testing import log_in

    gateway = await start_gateway(emulator)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[database]\npath = "{tmp_path / "loa.sqlite3"}"\n', encoding="utf-8")
    done = await asyncio.to_thread(
        subprocess.run,
        [*LOA, "user", "add", "quantri", "--password-stdin", "--config", str(cfg)],
        input="matkhau-an-toan-1\n", capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert await log_in(gateway, "quantri", "matkhau-an-toan-1") == 303
    # a second `loa run` on the same database is still refused
    run = await asyncio.to_thread(
        subprocess.run, [*LOA, "run", "--config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode != 0 and "đang được một Loa khác dùng" in run.stderr
