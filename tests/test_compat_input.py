"""The adapters' input: hostile texts and URLs, the config's refusals, and HUY kept by the residents."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from compat import escapes, kannel
from gateway.config import from_dict
from gateway.core.errors import ConfigError, InvalidRequest
from gateway.residents.keys import RESIDENTS
from gateway.testing import EmulatedModem


@given(
    text=st.binary(max_size=300),
    coding=st.sampled_from([None, b"0", b"1", b"2", b"3", b"x", b"-1"]),
    charset=st.sampled_from([None, b"UTF-8", b"UTF-16BE", b"latin1", b"no-such", b"\xff"]),
)
def test_any_text_is_read_or_refused_with_a_reason(text: bytes, coding: bytes | None, charset: bytes | None) -> None:
    p = {"text": text} | ({"coding": coding} if coding else {}) | ({"charset": charset} if charset else {})
    try:
        read = kannel._text(p)
    except InvalidRequest as e:
        assert e.message.endswith("rejected")
        return
    assert read.strip() and len(read) <= kannel.MAX_TEXT


@given(st.dictionaries(st.sampled_from("kspPaAdt"), st.text(max_size=40)))
def test_escapes_never_break_the_url_they_fill(values: dict[str, str]) -> None:
    url = escapes.fill("http://127.0.0.1/x?a=%a&p=%p&d=%d&k=%k&pct=%%&z=%Z", values)
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    assert query["a"] == values.get("a", "") and query["p"] == values.get("p", "")
    assert query["pct"] == "%" and query["z"] == ""  # %% is a lone %; an escape Loa has no value for is empty
    assert set(query) == {"a", "p", "d", "k", "pct", "z"}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"kannel": {"username": "u", "password": "short"}}, "kannel.password"),
        ({"kannel": {"pasword": "x"}}, "kannel.pasword"),
        ({"rapidpro": {"channel_uuid": "not-a-uuid"}}, "rapidpro.channel_uuid"),
        (
            {
                "rapidpro": {
                    "channel_uuid": "8eb23e93-5ecb-45ba-b726-3b064e0c56ab",
                    "url": "https://x.org",
                    "authorization": "short",
                }
            },
            "rapidpro.authorization",
        ),
        ({"jasmin": {"priority": "alert"}}, "jasmin.priority"),
        ({"sms_service": [{"keyword": "a", "get_url": "http://x/", "post_url": "http://y/"}]}, "sms_service.get_url"),
        ({"sms_service": [{"get_url": "http://x/"}]}, "sms_service.keyword"),
        ({"sms_service": [{"keyword_regex": "(", "get_url": "http://x/"}]}, "sms_service.keyword_regex"),
        ({"sms_service": [{"keyword": "a", "get_url": "file:///etc/passwd"}]}, "sms_service.get_url"),
    ],
)
def test_the_config_refuses_what_would_not_work(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as e:
        from_dict(raw)
    assert e.value.details["key"] == key


async def test_huy_stays_with_the_residents_whatever_a_rule_claims(
    start_gateway: Any, emulator: EmulatedModem, aiohttp_server: Any
) -> None:
    called: asyncio.Queue[str] = asyncio.Queue()

    async def service(request: web.Request) -> web.Response:
        await called.put(request.query["text"])
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/{tail:.*}", service)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}/x?text=%a"
    loa = await start_gateway(emulator, sms_service=[{"keyword_regex": ".*", "get_url": url}])
    emulator.deliver("0912345678", "HUY")
    confirmation = await asyncio.wait_for(emulator.wait_sent(1), 20)
    assert "ngừng nhận tin" in confirmation[0].text.lower() or "ngung nhan tin" in confirmation[0].text.lower()
    assert await loa.app[RESIDENTS].opted_out("+84912345678")
    emulator.deliver("0912345678", "bat ky gi")  # any other word: the rule claims it
    assert await asyncio.wait_for(called.get(), 20) == "bat ky gi"
    assert called.empty()  # HUY never reached the service
