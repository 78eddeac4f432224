"""Warnings end to end, through the emulated modem and the recording player on an injected clock: a
typhoon bulletin arrives → SMS and speakers at once → repeats on the QĐ 18/2021 cadence → a CAP Cancel
(or the one stop button) stops the rest. And the chains, the duplicates, the expired, the elsewhere."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import pytest
from aiohttp import web

from audio.player import RecordingPlayer
from broadcasts.keys import ANNOUNCER
from bulletins import cap
from bulletins.keys import BULLETINS
from bulletins.setup import fetch
from gateway.testing import AUTH, VN, EmulatedModem, FakeClock, at, settled, sql, to, until
from schedules.keys import SCHEDULER

CODE = "02845"  # the commune's administrative code as a CAP geocode would carry it
CENTRE = (23.3636, 105.3164)
WARNINGS = {"commune_code": CODE, "latitude": CENTRE[0], "longitude": CENTRE[1], "auto_play": True,
            "sender": "ubnd@xa-naphin.vn"}  # fmt: skip
HEAD = ("Vàng A Sử", "+84912100001", "Nà Phìn")
RESIDENTS = [("Lò Thị Mai", "+84912000001", "Nà Phìn"), ("Giàng Thị Dua", "+84912000002", "Khau Vai")]
ISSUED = at(2026, 12, 2, 14, 0)


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, VN).isoformat(timespec="seconds")


def typhoon(identifier: str = "VN-NCHMF-2026-B12-07", *, msg_type: str = "Alert", refs: str = "",
            sent: float = ISSUED, expires: float | None = None, area: str = "", event: str = "Bão",
            status: str = "Actual") -> bytes:  # fmt: skip
    """A typhoon bulletin as a provincial composer (cap-composer) would write it, for this commune."""
    area = area or f"<geocode><valueName>ma_xa</valueName><value>{CODE}</value></geocode>"
    references = f"<references>{refs}</references>" if refs else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier><sender>canhbao@nchmf.gov.vn</sender><sent>{stamp(sent)}</sent>
  <status>{status}</status><msgType>{msg_type}</msgType><scope>Public</scope>{references}
  <info><language>vi-VN</language><category>Met</category><event>{event}</event><urgency>Immediate</urgency>
    <severity>Extreme</severity><certainty>Likely</certainty>
    <expires>{stamp(expires or sent + 24 * 3600)}</expires>
    <senderName>Trung tâm Dự báo Khí tượng Thủy văn quốc gia</senderName>
    <headline>Bão số 12 đổ bộ, gió giật cấp 12</headline>
    <description>Hồi 13 giờ, vị trí tâm bão ở vào khoảng 21,5 độ Vĩ Bắc; 107,8 độ Kinh Đông.</description>
    <instruction>Không ra khỏi nhà; các hộ ven suối sơ tán tới nhà văn hoá thôn.</instruction>
    <parameter><valueName>cap_do_rui_ro</valueName><value>4</value></parameter>
    <area><areaDesc>Hà Giang</areaDesc>{area}</area>
  </info>
</alert>""".encode()


async def gateway(emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer,
                  **warnings: Any) -> Any:  # fmt: skip
    client = await start_gateway(emulator, clock=clock, player=player, bulletins=WARNINGS | warnings)
    for name, number, hamlet in [HEAD, *RESIDENTS]:
        roles = ["hamlet_head"] if (name, number, hamlet) == HEAD else ["resident"]
        resp = await client.post("/api/v1/contacts", json={"name": name, "number": number, "hamlet": hamlet,
                                                           "roles": roles}, headers=AUTH)  # fmt: skip
        assert resp.status == 201, await resp.text()
    return client


async def post(client: Any, body: bytes) -> dict[str, Any]:
    resp = await client.post("/api/v1/cap", data=body, headers=AUTH | {"Content-Type": "application/cap+xml"})
    assert resp.status in (200, 202), await resp.text()
    return dict(await resp.json())


async def plays(client: Any) -> list[tuple[Any, ...]]:
    async def done() -> bool:
        rows = await sql(client, "select result from broadcast_log")
        return all(r[0] != "playing" for r in rows)

    await until(client, done)
    return await sql(client, "select a.text, l.started_at, l.result from broadcast_log l"
                             " join announcements a on a.id = l.announcement_id order by l.id")  # fmt: skip


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(ISSUED + 5 * 60)  # the bulletin reaches the commune five minutes after it was issued


@pytest.fixture
def player() -> RecordingPlayer:
    return RecordingPlayer()


async def test_a_typhoon_bulletin_reaches_phones_and_speakers_repeats_and_a_cancel_stops_it(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    arrived = clock.now
    got = await post(client, typhoon())
    assert got["status"] == "active" and got["sms"] == 3  # two residents and the head, the whole commune
    await settled(client)
    for _, number, _ in [HEAD, *RESIDENTS]:
        (sms,) = [m for m in to(emulator, number) if "BAO" in m.text]
        assert "Ban tin 14h00 2/12" in sms.text and len(sms.text) <= 2 * 153  # folded, two parts at most
    heads = [m.text for m in to(emulator, HEAD[1])]
    assert any("Trả lời OK" in t for t in heads), "the hamlet head's alert asks for OK"
    (first,) = await plays(client)
    assert "Bản tin phát lúc 14 giờ ngày 2 tháng 12" in first[0] and first[2] == "played"
    assert first[1] - arrived < 60 and len(player.plays) == 1
    sent_at = await sql(client, "select max(sent_at) - min(created_at) from outbox where source like 'bulletin:%'")
    assert sent_at[0][0] < 60

    await client.app[SCHEDULER].advance(arrived + 3600)
    assert len(player.plays) == 1  # nothing before two hours
    await asyncio.gather(*await client.app[SCHEDULER].advance(arrived + 2 * 3600))
    assert len(await plays(client)) == 2
    await asyncio.gather(*await client.app[SCHEDULER].advance(arrived + 4 * 3600))
    assert len(await plays(client)) == 3

    clock.now = arrived + 5 * 3600
    cancel = typhoon("VN-NCHMF-2026-B12-07-HUY", msg_type="Cancel", sent=clock.now,
                     refs=f"canhbao@nchmf.gov.vn,VN-NCHMF-2026-B12-07,{stamp(ISSUED)}")  # fmt: skip
    assert (await post(client, cancel))["stopped"] == [got["id"]]
    for hours in (6, 8, 12, 30):
        await asyncio.gather(*await client.app[SCHEDULER].advance(arrived + hours * 3600))
    assert len(await plays(client)) == 3, "no play after the Cancel"
    board = await (await client.get(f"/api/v1/bulletins/{got['id']}", headers=AUTH)).json()
    assert (board["status"], board["stopped_by"]) == ("stopped", "CAP Cancel")
    assert (await sql(client, "select status from alerts where id=?", board["alert_id"])) == [("closed",)]


async def test_the_stop_button_cuts_the_play_on_air_and_the_sms_not_yet_sent(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    player.hold = asyncio.Event()  # the first play stays on the air
    emulator.faults.silent = True  # the modem hangs: the SMS stay queued
    got = await post(client, typhoon())
    await asyncio.wait_for(player.started.wait(), 10)
    resp = await client.post("/api/v1/bulletins/stop", headers=AUTH)
    assert (await resp.json())["stopped"] == [got["id"]]
    assert [r[2] for r in await plays(client)] == ["stopped"]
    assert player.plays[0]["result"] == "interrupted"
    assert client.app[ANNOUNCER].station.relay.on is False
    cancelled = await sql(client, "select count(*) from outbox where source=? and status='failed'"
                                  " and last_error like 'đã huỷ%'", f"bulletin:{got['id']}")  # fmt: skip
    queued = await sql(client, "select count(*) from outbox where status in ('queued', 'sending')"
                               " and source like 'bulletin:%'")  # fmt: skip
    assert cancelled[0][0] + queued[0][0] == 3 and cancelled[0][0] >= 2  # one may be in the modem's hands
    emulator.faults.silent = False
    await asyncio.gather(*await client.app[SCHEDULER].advance(clock.now + 3 * 3600))
    assert len(player.plays) == 1


async def test_an_update_replaces_its_alert_and_duplicates_expired_and_elsewhere_do_nothing(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    first = await post(client, typhoon())
    assert (await post(client, typhoon()))["duplicate"] is True
    update = typhoon("VN-NCHMF-2026-B12-08", msg_type="Update", sent=ISSUED + 3 * 3600,
                     refs=f"canhbao@nchmf.gov.vn,VN-NCHMF-2026-B12-07,{stamp(ISSUED)}")  # fmt: skip
    second = await post(client, update)
    assert second["status"] == "active" and second["stopped"] == [first["id"]]
    old = await sql(client, "select expires_at from bulletins where id=?", first["id"])
    expired = await post(client, typhoon("OLD-1", sent=ISSUED - 86400, expires=ISSUED - 3600))
    assert (expired["status"], expired["reason"]) == ("expired", "đã hết hạn khi nhận")
    far = ("<polygon>21.0,105.0 21.0,105.1 21.1,105.1 21.1,105.0 21.0,105.0</polygon>"
           "<geocode><valueName>ma_xa</valueName><value>09999</value></geocode>")  # fmt: skip
    assert (await post(client, typhoon("FAR-1", area=far)))["status"] == "ignored"
    spoof = typhoon("SPOOF-1", msg_type="Cancel", refs=f"canhbao@nchmf.gov.vn,VN-NCHMF-2026-B12-08,{stamp(ISSUED)}")
    spoof = spoof.replace(b"<sender>canhbao@nchmf.gov.vn</sender>", b"<sender>someone@else.example</sender>")
    assert "stopped" not in await post(client, spoof)  # another sender cannot cancel it
    test_run = await post(client, typhoon("EXERCISE-1", status="Exercise"))
    assert test_run["status"] == "ignored" and "Exercise" in test_run["reason"]
    await settled(client)
    assert len(player.plays) == 2 and old  # one play for the alert, one for its update; nothing else
    statuses = dict(await sql(client, "select identifier, status from bulletins"))
    assert statuses == {"VN-NCHMF-2026-B12-07": "stopped", "VN-NCHMF-2026-B12-08": "active", "OLD-1": "expired",
                        "FAR-1": "ignored", "SPOOF-1": "done", "EXERCISE-1": "ignored"}  # fmt: skip


async def test_a_polygon_around_one_hamlet_reaches_that_hamlet_only(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    hamlets = dict(await sql(client, "select name, id from hamlets"))
    for name, (lat, lon) in {"Nà Phìn": (23.40, 105.30), "Khau Vai": (23.30, 105.40)}.items():
        resp = await client.put(f"/api/v1/bulletins/points/{hamlets[name]}", json={"lat": lat, "lon": lon},
                                headers=AUTH)  # fmt: skip
        assert resp.status == 200
    # a landslide polygon around Nà Phìn's point that ends just short of the commune's centre
    near = "<polygon>23.39,105.29 23.39,105.31 23.41,105.31 23.41,105.29 23.39,105.29</polygon>"
    got = await post(client, typhoon("SL-1", area=near, event="Sạt lở đất"))
    assert got["sms"] == 2  # Nà Phìn's resident and head, not Khau Vai's
    misses = "<polygon>23.39,105.3001 23.39,105.31 23.41,105.31 23.41,105.3001 23.39,105.3001</polygon>"
    assert (await post(client, typhoon("SL-2", area=misses)))["status"] == "ignored"
    (zones,) = await sql(client, "select zones from announcements")
    assert zones == ('["Nà Phìn"]',)


async def test_without_automatic_play_a_warning_waits_for_an_official_then_goes(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player, auto_play=False, wait_minutes=10.0)
    got = await post(client, typhoon())
    assert got["status"] == "pending"
    await client.app[SCHEDULER].advance(clock.now + 9 * 60)
    assert player.plays == [] and await sql(client, "select count(*) from outbox") == [(0,)]
    await asyncio.gather(*await client.app[SCHEDULER].advance(clock.now + 60))
    await plays(client)
    assert len(player.plays) == 1
    assert (await sql(client, "select status from bulletins"))[0][0] == "active"


async def test_a_tsunami_warning_plays_twice_five_minutes_apart_then_every_twenty(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    start = clock.now
    await post(client, typhoon("TSU-1", event="Sóng thần"))
    for minutes in range(1, 50):
        await asyncio.gather(*await client.app[SCHEDULER].advance(start + minutes * 60))
    played = [round((r[1] - start) / 60) for r in await plays(client)]
    assert played == [0, 5, 25, 45]


async def test_a_bulletin_typed_from_a_fax_goes_out_and_is_published_as_valid_cap(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    body = {"issuer": "Ban Chỉ huy PCTT tỉnh Hà Giang", "issued_at": "2026-12-02T14:00", "hazard": "lũ quét",
            "level": 3, "hamlets": ["Khau Vai"], "text": "Mưa lớn, nguy cơ lũ quét trên suối Nậm Lang.",
            "instruction": "Các hộ ven suối di chuyển lên nhà văn hoá.", "expires_at": "2026-12-03T14:00"}  # fmt: skip
    resp = await client.post("/api/v1/bulletins", json=body, headers=AUTH)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["sms"] == 1 and made["status"] == "active"
    await settled(client)
    (sms,) = to(emulator, RESIDENTS[1][1])
    assert sms.text.startswith("CANH BAO LU QUET cap 3:") and "Ban tin 14h00 2/12" in sms.text
    bad = await client.post("/api/v1/bulletins", json=body | {"level": 6}, headers=AUTH)
    assert bad.status == 400 and "1 đến 5" in (await bad.json())["error"]

    document = await client.get(f"/cap/{made['id']}.xml")
    assert document.status == 200 and document.content_type == "application/cap+xml"
    alert = cap.parse(await document.read())  # valid against the OASIS schema
    info = alert.info
    assert info is not None and info.level == 3 and info.event == "lũ quét"
    assert info.areas[0].geocodes == (("ma_xa", CODE),) and info.areas[0].desc == "Khau Vai"
    await client.post(f"/api/v1/bulletins/{made['id']}/stop", headers=AUTH)
    cancel = cap.parse(await (await client.get(f"/cap/{made['id']}/cancel.xml")).read())
    assert cancel.msg_type == "Cancel" and cancel.references == ((alert.sender, alert.identifier),)
    by_hand = await client.post("/api/v1/alerts", json={"text": "Họp khẩn ban chỉ huy PCTT xã lúc 15h.",
                                                       "to": {"hamlets": ["Nà Phìn"]}}, headers=AUTH)  # fmt: skip
    alert_id = (await by_hand.json())["id"]
    feed = await (await client.get("/cap/feed.atom")).read()
    assert ET.fromstring(feed).tag == f"{{{cap.ATOM}}}feed"
    assert sorted(ln.rsplit("/cap/", 1)[1] for ln in cap.feed_links(feed)) == sorted(
        [f"{made['id']}/cancel.xml", f"{made['id']}.xml", f"alerts/{alert_id}.xml"])  # fmt: skip
    said = cap.parse(await (await client.get(f"/cap/alerts/{alert_id}.xml")).read())
    assert said.info is not None and said.info.description == "Họp khẩn ban chỉ huy PCTT xã lúc 15h."
    assert said.info.areas[0].desc == "Nà Phìn" and said.sender == WARNINGS["sender"]


async def test_hostile_bodies_are_refused_and_nothing_is_kept(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><a>&b;</a>'
    xxe = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    for body in (bomb, xxe, b"not xml", typhoon().replace(b"<scope>Public</scope>", b"")):
        resp = await client.post("/api/v1/cap", data=body, headers=AUTH)
        assert resp.status == 400, await resp.text()
    huge = b"<alert>" + b"x" * (50 * 1024 * 1024) + b"</alert>"
    resp = await client.post("/api/v1/cap", data=io.BytesIO(huge), headers=AUTH)
    assert resp.status == 413
    nobody = await client.post("/api/v1/cap", data=typhoon())
    assert nobody.status == 401
    assert await sql(client, "select count(*) from bulletins") == [(0,)]


async def test_a_polled_feed_brings_its_cap_documents_in_once(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer, aiohttp_server: Any
) -> None:
    documents = {"/cap/b12.xml": typhoon(), "/cap/far.xml": typhoon("FAR-2", area="<circle>10.0,106.0 5</circle>")}
    feed_app = web.Application()

    async def feed(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        entries = "".join(
            f"<entry><id>{p}</id><title>t</title><updated>2026-12-02T14:00:00+07:00</updated>"
            f'<link type="application/cap+xml" href="{base}{p}"/></entry>'
            for p in documents
        )
        body = f'<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>x</title>{entries}</feed>'
        return web.Response(body=body.encode(), content_type="application/atom+xml")

    async def document(request: web.Request) -> web.Response:
        return web.Response(body=documents[request.path], content_type="application/cap+xml")

    feed_app.router.add_get("/feed.atom", feed)
    feed_app.router.add_get("/cap/{name}", document)
    server = await aiohttp_server(feed_app)
    client = await gateway(emulator, start_gateway, clock, player, feeds=[f"http://127.0.0.1:{server.port}/feed.atom"])
    # the app polls its feeds as it starts
    await until(client, lambda: _count(client, "bulletins", 2))
    assert await client.app[BULLETINS].poll_feeds(fetch) == {"links": 0, "taken": 0, "failed": 0}  # each once
    assert dict(await sql(client, "select identifier, status from bulletins")) == {
        "VN-NCHMF-2026-B12-07": "active", "FAR-2": "ignored"}  # fmt: skip


async def _count(client: Any, table: str, n: int) -> bool:
    return bool((await sql(client, f"select count(*) from {table}"))[0][0] == n)


async def test_a_warning_that_expires_stops_repeating_and_its_alert_closes(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await gateway(emulator, start_gateway, clock, player)
    start = clock.now
    got = await post(client, typhoon("SHORT-1", expires=ISSUED + 3 * 3600))
    for hours in (1, 2.5, 3.5, 5, 9):
        await asyncio.gather(*await client.app[SCHEDULER].advance(start + hours * 3600))
    assert len(await plays(client)) == 2  # at once and two hours later; it expired before the third
    row = await sql(client, "select status, stopped_by, alert_id from bulletins where id=?", got["id"])
    assert row[0][:2] == ("expired", "hết hiệu lực")
    assert await sql(client, "select status from alerts where id=?", row[0][2]) == [("closed",)]


async def test_a_long_bulletin_is_cut_to_two_sms_keeping_its_issue_time(
    emulator: EmulatedModem, start_gateway: Any, clock: FakeClock, player: RecordingPlayer
) -> None:
    client = await start_gateway(emulator, clock=clock, player=player, bulletins=WARNINGS)
    b = {
        "hazard": "lũ quét",
        "level": 4,
        "issued_at": ISSUED,
        "issuer": "Ban Chỉ huy PCTT tỉnh",
        "headline": "Lũ quét trên suối Nậm Lang",
        "instruction": "Di chuyển ngay lên chỗ cao. " * 40,
        "text": "",
    }
    folded = client.app[BULLETINS].sms_text(b)
    assert folded.encoding == "gsm7" and folded.segments == 2
    assert folded.body.startswith("CANH BAO LU QUET cap 4: Lu quet tren suoi Nam Lang.")
    assert folded.body.endswith("(Ban tin 14h00 2/12, Ban Chi huy PCTT tinh)")
    service = client.app[BULLETINS]
    service.config = dataclasses.replace(service.config, sms_fold=False)
    exact = service.sms_text(b)
    assert exact.encoding == "ucs2" and exact.segments <= 2 and "Bản tin 14h00 2/12" in exact.body
