"""Kannel's sendsms and sms-service: the same requests to Debian's real Kannel and to Loa, compared
(status, body, the dlr-url calls, the sms-service URL), and RapidPro's KN channel unchanged."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote_plus

import aiohttp
import pytest
from aiohttp import web

from gateway.residents.keys import RESIDENTS
from gateway.sms.keys import OUTBOX, TRANSPORT
from gateway.testing import TOKEN, EmulatedModem, until
from tests import kannel_peer
from tests.kannel_peer import OPTED_OUT, PASSWORD, USERNAME, Kannel

COURIER = json.loads((Path(__file__).parent / "data" / "courier.json").read_text())
WAIT = 20.0
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    k = kannel_peer.start(tmp_path_factory.mktemp("kannel"))
    yield k
    kannel_peer.stop(k)


class Recorder:
    """A local HTTP service: records each call, answers `answer`."""

    def __init__(self, answer: str = "") -> None:
        self.answer = answer
        self.calls: asyncio.Queue[tuple[str, dict[str, str], web.Request]] = asyncio.Queue()
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.Response:
        await self.calls.put((request.path, dict(parse_qsl(request.query_string, keep_blank_values=True)), request))
        return web.Response(text=self.answer)

    async def next(self) -> tuple[str, dict[str, str]]:
        path, query, _ = await asyncio.wait_for(self.calls.get(), WAIT)
        return path, query


@pytest.fixture
async def loa(start_gateway: Callable[..., Awaitable[Any]], emulator: EmulatedModem) -> Any:
    emulator.auto_report = True  # the network reports each part delivered, as fakesmsc does
    client = await start_gateway(emulator, kannel={"username": USERNAME, "password": PASSWORD, "own_number": "1234"})
    await client.app[RESIDENTS].unsubscribe_number("+84" + OPTED_OUT[1:])  # this resident sent HUY
    return client


def query(**params: str | bytes) -> str:
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in params.items())


AUTH = {"username": USERNAME, "password": PASSWORD}
CASES = {
    "accepted": query(**AUTH, to="0912345678", text="Hop thon 19h"),
    "user and pass": query(user=USERNAME, **{"pass": PASSWORD}, to="0912345678", text="Hop thon"),
    "wrong password": query(username=USERNAME, password="wrong", to="0912345678", text="x"),
    "no account": query(to="0912345678", text="x"),
    "no receiver": query(**AUTH, text="Hop thon"),
    "opted out / black-listed": query(**AUTH, to=OPTED_OUT, text="Hop thon"),
    "UCS-2 as RapidPro's KN sends it": query(
        **AUTH, to="0912345678", coding="2", text="Chào bà con".encode("utf-16-be"), **{"dlr-mask": "27"}
    ),
    "UTF-8 with charset": query(**AUTH, to="0912345678", charset="UTF-8", text="Chào bà con"),
}


async def test_a_post_with_x_kannel_headers_is_read_as_kannel_reads_it(kannel: Kannel, loa: Any) -> None:
    headers = {"X-Kannel-Username": USERNAME, "X-Kannel-Password": PASSWORD, "X-Kannel-To": "0912345678",
               "Content-Type": "text/plain; charset=UTF-8"}  # fmt: skip
    answers = []
    async with aiohttp.ClientSession() as http:
        with kannel.smsc():
            for url in (kannel.sendsms, str(loa.make_url("/cgi-bin/sendsms"))):
                for h in (headers, headers | {"X-Kannel-Password": "wrong"}):
                    async with http.post(url, data="Chào bà con".encode(), headers=h) as resp:
                        answers.append((resp.status, await resp.text()))
    assert answers[2:] == answers[:2] == [(202, "0: Accepted for delivery"), (403, "Authorization failed for sendsms")]
    assert (await loa.app[OUTBOX].get(1))["text"] == "Chào bà con"


@pytest.mark.parametrize("case", CASES)
async def test_sendsms_answers_as_kannel_does(kannel: Kannel, loa: Any, case: str) -> None:
    async with aiohttp.ClientSession() as http:
        answers = []
        with kannel.smsc():  # Kannel's SMSC is up, as Loa's modem is
            for url in (kannel.sendsms, str(loa.make_url("/cgi-bin/sendsms"))):
                async with http.get(f"{url}?{CASES[case]}") as resp:
                    answers.append((resp.status, await resp.text()))
        # and the same as a form POST
        async with http.post(
            str(loa.make_url("/cgi-bin/sendsms")), data=CASES[case],
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as resp:  # fmt: skip
            posted = (resp.status, await resp.text())
    assert answers[1] == answers[0], f"Loa {answers[1]} where Kannel {answers[0]}"
    assert posted == answers[0]


async def test_with_nothing_to_send_through_both_queue_it_for_later(
    kannel: Kannel, loa: Any, emulator: EmulatedModem
) -> None:
    await emulator.close()  # Loa's modem unplugged; Kannel has no SMSC connected (no fakesmsc)

    async def modem_down() -> bool:
        return not loa.app[TRANSPORT].info.connected

    await until(loa, modem_down)
    ask = CASES["accepted"]
    async with aiohttp.ClientSession() as http:
        answers = []
        for url in (kannel.sendsms, str(loa.make_url("/cgi-bin/sendsms"))):
            async with http.get(f"{url}?{ask}") as resp:
                answers.append((resp.status, await resp.text()))
    assert answers[1] == answers[0] == (202, "3: Queued for later delivery")
    assert (await loa.app[OUTBOX].get(1))["status"] == "queued"


async def test_what_loa_accepted_is_an_outbox_message_like_the_json_apis(loa: Any) -> None:
    text = "Chào bà con, 7h30 họp thôn"
    resp = await loa.get("/cgi-bin/sendsms?" + query(**AUTH, to="0912345678", charset="UTF-8", text=text, priority="1"))
    assert resp.status == 202
    resp = await loa.post(
        "/api/v1/messages", json={"to": ["0912345678"], "text": text, "priority": "reply"}, headers=BEARER
    )
    assert resp.status == 202
    by_kannel, by_api = [await loa.app[OUTBOX].get(i) for i in (1, 2)]
    same = ("recipient", "text", "body", "encoding", "segments", "priority")
    assert {k: by_kannel[k] for k in same} == {k: by_api[k] for k in same}
    assert by_kannel["source"] == "compat:kannel"


async def test_dlr_url_is_called_as_kannel_calls_it(
    kannel: Kannel, loa: Any, aiohttp_server: Any, emulator: EmulatedModem
) -> None:
    recorder = Recorder()
    server = await aiohttp_server(recorder.app)
    dlr_url = f"http://127.0.0.1:{server.port}/dlr?d=%d&A=%A&p=%p&P=%P"
    ask = query(**AUTH, to="0912345678", text="Hop thon 19h", **{"from": "9999", "dlr-mask": "31", "dlr-url": dlr_url})
    seen: dict[str, list[dict[str, str]]] = {}
    async with aiohttp.ClientSession() as http:
        with kannel.smsc():
            async with http.get(f"{kannel.sendsms}?{ask}") as resp:
                assert resp.status == 202
            seen["kannel"] = [(await recorder.next())[1] for _ in range(2)]
        async with http.get(f"{loa.make_url('/cgi-bin/sendsms')}?{ask}") as resp:
            assert resp.status == 202
        seen["loa"] = [(await recorder.next())[1] for _ in range(2)]
    # the network took it (8, "ACK/"), then the handset's report (1)
    assert seen["kannel"] == [
        {"d": "8", "A": "ACK/", "p": "0912345678", "P": "9999"},
        {"d": "1", "A": "", "p": "0912345678", "P": "9999"},
    ]
    assert seen["loa"] == seen["kannel"]


async def test_a_residents_sms_goes_to_the_service_and_its_answer_back(
    kannel: Kannel, start_gateway: Callable[..., Awaitable[Any]], emulator: EmulatedModem, aiohttp_server: Any
) -> None:
    recorder = Recorder(answer="Gio lam viec: 7h30-17h, thu 2-6")
    await aiohttp_server(recorder.app, port=kannel.service_port)
    template = "http://127.0.0.1:{port}/mo?from=%p&to=%P&kw=%k&next=%s&rest=%r&all=%a&t=%t&T=%T"
    await start_gateway(
        emulator,
        kannel={"username": USERNAME, "password": PASSWORD, "own_number": "1234"},
        sms_service=[{"keyword": "hoi", "get_url": template.format(port=kannel.service_port)}],
    )
    with kannel.smsc("+84912345678 1234 text HOI gio  lam viec") as smsc_log:
        _, by_kannel = await recorder.next()
        for _ in range(100):  # Kannel's answer reaches fakesmsc's log
            if "Gio lam viec" in smsc_log.read_text(errors="replace"):
                break
            await asyncio.sleep(0.05)
        assert "<1234 +84912345678 text Gio lam viec: 7h30-17h, thu 2-6>" in smsc_log.read_text()
    emulator.deliver("0912345678", "HOI gio  lam viec")
    _, by_loa = await recorder.next()
    for got in (by_kannel, by_loa):
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", got.pop("t")) and got.pop("T").isdigit()
    assert by_loa == by_kannel == {
        "from": "+84912345678", "to": "1234", "kw": "HOI", "next": "gio", "rest": "lam viec", "all": "HOI gio lam viec"
    }  # fmt: skip
    # the service's answer went back to the resident, through the outbox
    replies = await asyncio.wait_for(emulator.wait_sent(1), WAIT)
    assert replies[-1].number.endswith("912345678") and replies[-1].text == "Gio lam viec: 7h30-17h, thu 2-6"


@pytest.mark.parametrize("case", COURIER["kannel_send"], ids=lambda c: c["label"])
async def test_rapidpros_kn_channel_works_unchanged(
    loa: Any, aiohttp_server: Any, case: dict[str, Any], emulator: EmulatedModem
) -> None:
    """Courier's own requests (handlers/kannel/handler_test.go) against Loa's sendsms, with Courier's dlr-url."""
    recorder = Recorder()
    server = await aiohttp_server(recorder.app)
    params: dict[str, str | bytes] = dict(case["params"])
    if "text_hex" in params:
        params["text"] = bytes.fromhex(str(params.pop("text_hex")))
    params |= {"username": USERNAME, "password": PASSWORD}
    params["to"] = "+84912345678" if str(params["to"]).startswith("+") else "912345678"
    params["dlr-url"] = str(params["dlr-url"]).replace("https://localhost", f"http://127.0.0.1:{server.port}")
    resp = await loa.get("/cgi-bin/sendsms?" + query(**params))
    status, body = case["response"]
    assert resp.status // 100 == status // 100 == 2 and await resp.text() == body
    row = await loa.app[OUTBOX].get(1)
    assert row["text"] == case["text"]
    assert row["priority"] == (1 if case.get("priority") == "reply" else 2)
    # the dlr-url as Courier reads it: its status values, each one it knows
    mask = int(case["params"]["dlr-mask"])
    wanted = [d for d in ("8", "1") if mask & int(d)]
    for d in wanted:
        path, got = await recorder.next()
        assert path == "/c/kn/8eb23e93-5ecb-45ba-b726-3b064e0c56ab/status"
        assert got == {"uuid": "0191e180-7d60-7000-aded-7d8b151cbd5b", "status": d}
        assert COURIER["kannel_status"]["known"][d] in ("S", "D")
