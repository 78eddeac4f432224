"""USSD in the aggregator's shape: a scripted session, screen sizes, resuming, bad input."""

from __future__ import annotations

from typing import Any

from gateway.sms.encoding import is_gsm7, septets
from gateway.testing import USSD_TOKEN, EmulatedModem, say, sql

PHONE = "+84961234567"


async def dial(client: Any, text: str, session: str = "ATUid_1", phone: str = PHONE) -> str:
    resp = await client.post(
        f"/ussd/africastalking?token={USSD_TOKEN}",
        data={
            "sessionId": session,
            "serviceCode": "*384*123#",
            "phoneNumber": phone,
            "networkCode": "45204",
            "text": text,
        },
    )
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    body = str(await resp.text())
    assert body.startswith(("CON ", "END "))
    screen = body[4:]
    assert is_gsm7(screen) and septets(screen) <= 182, f"{septets(screen)} characters: {screen!r}"
    return body


async def test_a_session_walks_the_menu_to_an_answer(gateway: Any) -> None:
    first = await dial(gateway, "")
    assert first.startswith("CON xa Na Phin tra loi:\n1 Thu tuc hanh chinh")
    procs = await dial(gateway, "1")
    assert "1 Khai sinh" in procs and "0 Tiep" in procs
    more = await dial(gateway, "1*0")
    assert "Chon thu tuc" in more and "Khai sinh" not in more
    answer = await dial(gateway, "1*1")
    assert answer.startswith("CON Khai sinh: trong 60 ngay")
    rest = await dial(gateway, "1*1*0")
    assert "UBND xa" in rest and rest.rstrip().endswith("9 Quay lai")
    back = await dial(gateway, "1*1*0*9*9")
    assert back == procs


async def test_every_screen_fits_and_every_answer_can_be_read_to_the_end(gateway: Any) -> None:
    seen = 0
    for page in range(3):
        path = "1" + "*0" * page
        screen = await dial(gateway, path)
        items = [line.split(" ", 1)[0] for line in screen.splitlines()[1:] if line[:1].isdigit()]
        for item in items:
            if item in ("0", "9"):
                continue
            step = f"{path}*{item}"
            text = await dial(gateway, step)
            while "0 Tiep" in text:
                step += "*0"
                text = await dial(gateway, step)
            seen += 1
        if "0 Tiep" not in screen:
            break
    assert seen == 11


async def test_a_session_resumes_from_the_joined_text(gateway: Any) -> None:
    # a new worker, or a restart, sees only the text: the same inputs give the same screen
    assert await dial(gateway, "1*1", session="A") == await dial(gateway, "1*1", session="B")


async def test_the_menu_tells_how_to_subscribe_and_the_residents_own_sms_does_it(
    gateway: Any, emulator: EmulatedModem
) -> None:
    hamlets = await dial(gateway, "2")
    assert "1 Khau Pha" in hamlets
    done = await dial(gateway, "2*4")
    assert done == "END De nhan tin thon Na Phin, nhan tin: DK Na Phin gui so 0912345678."
    # the aggregator's phoneNumber is not the resident's consent: nothing changed yet
    assert await sql(gateway, "select number from subscriptions") == []
    await say(gateway, emulator, "DK Na Phin", sender=PHONE)
    assert await sql(gateway, "select number from subscriptions") == [(PHONE,)]
    stop = await dial(gateway, "3", session="C")
    assert stop == "END De ngung nhan tin cua xa, nhan tin HUY gui so 0912345678."
    assert await sql(gateway, "select number from subscriptions") == [(PHONE,)]


async def test_bad_input_ends_cleanly_or_shows_the_menu(gateway: Any) -> None:
    assert (await dial(gateway, "7")).startswith("CON Chon sai. xa Na Phin tra loi:")
    assert (await dial(gateway, "1*99")).startswith("CON Chon sai. Chon thu tuc:")
    assert (await dial(gateway, "abc*<script>")).startswith("CON Chon sai.")
    url = f"/ussd/africastalking?token={USSD_TOKEN}"
    resp = await gateway.post(url, data={"text": "1"})
    assert resp.status == 400 and (await resp.text()) == "END Thieu thong tin phien."
    resp = await gateway.post(url, data=b"\xff\xfe", headers={"Content-Type": "text/plain"})
    assert resp.status == 400 and (await resp.text()).startswith("END ")


async def test_an_idle_session_expires(emulator: Any, start_gateway: Any) -> None:
    client = await start_gateway(emulator, residents={"ussd_session_timeout": 0.0})
    await dial(client, "", session="old")
    assert (await dial(client, "1", session="old")).startswith("END Phien da het han")
