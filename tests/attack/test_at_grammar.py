"""AT command injection: a USSD code (or any value) that carries a quote, a ';' or a CR must never add
a command of its own on the modem's line (on a SIM800 it changed the SIM's SMS centre)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.core.errors import InvalidRequest
from gateway.sms.at import grammar
from gateway.testing import AUTH, EmulatedModem

INJECTIONS = [
    '*101#",15\rAT+CSCA="+84999999999",145\rAT+CUSD=1,"*101#',
    '*101#",15;+CSCA="+84999999999",145;+CUSD=1,"*101#',
    "*101#\r\nAT+CMGD=1,4",
    "*101#\x1a",
    "*101#\x1b",
    "*101# ",
    "*1O1#",
]


@pytest.fixture
async def sim800(tmp_path: Path) -> Any:
    emu = EmulatedModem("sim800", link_dir=tmp_path, auto_report=True)
    await emu.start()
    yield emu
    await emu.close()


@pytest.mark.parametrize("code", INJECTIONS)
async def test_a_ussd_code_that_is_not_digits_star_and_hash_never_reaches_the_modem(
    sim800: EmulatedModem, start_gateway: Any, code: str
) -> None:
    client = await start_gateway(sim800)
    before = list(sim800.commands)
    resp = await client.post("/api/v1/ussd", json={"code": code}, headers=AUTH)
    assert resp.status == 400, await resp.text()
    assert "USSD" in (await resp.json())["error"]
    new = sim800.commands[len(before) :]
    assert not any("CSCA" in c or "CMGD=1,4" in c for c in new)
    assert not any(c.startswith("AT+CUSD") for c in new)
    ok = await client.post("/api/v1/ussd", json={"code": "*101#"}, headers=AUTH)
    assert ok.status == 200, await ok.text()


keypad = st.text(alphabet="0123456789*#", min_size=1, max_size=64)
hostile = st.text(min_size=1, max_size=80).filter(lambda s: not set(s) <= set("0123456789*#"))


@given(code=keypad)
def test_every_keypad_code_passes_and_makes_one_command(code: str) -> None:
    assert grammar.line(f"AT+CUSD=1,{grammar.quoted('ussd', code)},15")


@given(code=hostile)
def test_anything_else_is_refused_before_it_is_written(code: str) -> None:
    with pytest.raises(InvalidRequest):
        grammar.value("ussd", code)


@given(value=st.text(max_size=60))
def test_a_line_with_any_value_spliced_in_is_one_command_or_refused(value: str) -> None:
    """Whatever a value holds, a line the grammar lets through has no CR, LF, ^Z, ESC, and no ';' or
    quote outside the string it was put in."""
    cmd = f'AT+CUSD=1,"{value}",15'
    try:
        grammar.line(cmd)
    except InvalidRequest:
        return
    assert cmd.count('"') % 2 == 0 and all(0x20 <= ord(c) < 0x7F for c in cmd)  # no CR, LF, ^Z, ESC
    # the quotes pair up so that nothing but the value sits between the first two
    outside = cmd.split('"')[0::2]
    assert not any(";" in part for part in outside)
