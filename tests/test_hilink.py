"""A HiLink dongle as Loa's transport: the real `huawei-lte-api` client, in the real app, talking over
loopback to the HiLink emulator (gateway/testing/hilink.py, built from recorded answers)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.config import all_modems
from gateway.core.errors import ConfigError, StoreUnavailable
from gateway.sms.config import ModemConfig
from gateway.sms.hilink import HiLinkTransport, find_hilink
from gateway.sms.pdu import InboundPart
from gateway.sms.transport import Receiver
from gateway.testing import AUTH, make_config, settled, sql, until
from gateway.testing.hilink import HiLinkEmulator, segments
from gateway.testing.hilink import start_loa as start_with_dongle

RESIDENT = "+84961234567"
# 104 characters with Vietnamese diacritics: UCS-2, two parts for Loa and for the dongle alike
NOTICE = (
    "Thông báo: Chiều nay 15 giờ họp dân tại nhà văn hoá thôn Nà Phìn về việc tiêm phòng cho trẻ. Mời bà con đến dự."
)


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """What the dongle holds changes without the app's notifier: looked at again every 50 ms."""
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110 (the emulator's state has no event to wait on)
            await asyncio.sleep(0.05)


@pytest.fixture
async def dongle() -> AsyncIterator[HiLinkEmulator]:
    emu = HiLinkEmulator(password="matkhau-dongle")
    await emu.start()
    yield emu
    await emu.close()


@pytest.fixture
def start_loa(aiohttp_client: Any, tmp_path: Path) -> Callable[..., Awaitable[Any]]:
    async def start(emu: HiLinkEmulator, **sections: Any) -> Any:
        return await start_with_dongle(aiohttp_client, tmp_path, emu, **sections)

    return start


async def send(client: Any, text: str, to: str = RESIDENT) -> int:
    resp = await client.post("/api/v1/messages", json={"to": [to], "text": text}, headers=AUTH)
    assert resp.status in (200, 201, 202), await resp.text()
    return int((await resp.json())["ids"][0])


async def status(client: Any, message_id: int) -> str:
    return str((await (await client.get(f"/api/v1/messages/{message_id}", headers=AUTH)).json())["status"])


class Watching:
    """Stands between the transport and the inbox: sees whether the dongle still holds each SMS when
    it is handed over, and can refuse the first one as a full disk would."""

    def __init__(self, inner: Receiver, emu: HiLinkEmulator, refuse_first: bool) -> None:
        self.inner, self.emu, self.refuse = inner, emu, refuse_first
        self.on_dongle: list[bool] = []

    async def handle_pdu(self, pdu_hex: str) -> None:
        await self.inner.handle_pdu(pdu_hex)

    async def handle_receipt(self, remote_id: str, delivered: bool) -> None:
        await self.inner.handle_receipt(remote_id, delivered)

    async def handle_part(self, part: InboundPart) -> None:
        text = part.units.decode("utf-16-be")
        self.on_dongle.append(any(m.content == text for m in self.emu.inbox.values()))
        if self.refuse:
            self.refuse = False
            raise StoreUnavailable("đĩa đầy (disk full)")
        await self.inner.handle_part(part)


async def test_the_full_scenario_on_a_hilink_dongle(dongle: HiLinkEmulator, start_loa: Any) -> None:
    client, transport = await start_loa(dongle)
    # what the console shows: network, access technology, signal (rssi -75 dBm), the SIM
    assert (transport.info.operator, transport.network_type, transport.info.signal) == ("Viettel", "LTE", 19)
    assert transport.info.sim == "READY" and transport.info.model.startswith("E3372h-320")

    # a Vietnamese notice of two parts: the dongle gets the whole text once and splits it itself
    message_id = await send(client, NOTICE)
    await settled(client)
    (sent,) = dongle.sent
    assert (sent.phone, sent.content, sent.segments) == (RESIDENT, NOTICE, 2)
    assert await sql(client, "select segments from outbox where id=?", message_id) == [(segments(NOTICE),)]
    assert await sql(client, "select count(*) from outbox_parts where message_id=?", message_id) == [(2,)]

    # the dongle's delivery report (asked for at connect) settles both parts
    assert dongle.use_report == 1

    async def delivered() -> bool:
        return await status(client, message_id) == "delivered"

    await until(client, delivered)
    await eventually(lambda: not dongle.inbox)  # the report was deleted from the dongle
    assert await sql(client, "select count(*) from inbox") == [(0,)]  # and is no resident's SMS

    # a resident's SMS: handed over while the dongle still has it; the first hand-over fails (full
    # disk), so the dongle keeps it and it is stored on the next look, then deleted
    watching = Watching(transport._receiver, dongle, refuse_first=True)
    transport._receiver = watching
    dongle.receive(RESIDENT, "Cho hỏi lịch tiêm phòng cho trẻ ở thôn Nà Phìn?")

    async def stored() -> bool:
        return bool(await sql(client, "select 1 from inbox where text like 'Cho hỏi lịch tiêm%'"))

    await until(client, stored)
    await eventually(lambda: not dongle.inbox)
    assert watching.on_dongle == [True, True]
    assert await sql(client, "select sender, text from inbox") == [
        (RESIDENT, "Cho hỏi lịch tiêm phòng cho trẻ ở thôn Nà Phìn?")
    ]

    # the balance by USSD, through the dongle's ussd/send and ussd/get
    resp = await client.post("/api/v1/ussd", json={"code": "*101#"}, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["answer"].startswith("TKC 125.000d")

    # the dongle's copies of what it sent are deleted: its memory stays free for residents' SMS
    await eventually(lambda: not dongle.outbox)


async def test_a_full_dongle_is_emptied_and_nothing_the_network_held_is_lost(start_loa: Any) -> None:
    emu = HiLinkEmulator(capacity=5)
    await emu.start()
    try:
        for i in range(8):  # 5 fill the dongle; the network holds 3 until there is room
            emu.receive(f"+8496123456{i}", f"Tin nhắn số {i} gửi ủy ban xã")
        assert len(emu.inbox) == 5 and len(emu.waiting) == 3 and emu.full
        client, _ = await start_loa(emu)

        async def all_stored() -> bool:
            return await sql(client, "select count(*) from inbox") == [(8,)]

        await until(client, all_stored)
        await eventually(lambda: not emu.inbox and not emu.waiting)
        texts = sorted(t for (t,) in await sql(client, "select text from inbox"))
        assert texts == sorted(f"Tin nhắn số {i} gửi ủy ban xã" for i in range(8))
    finally:
        await emu.close()


async def test_a_session_that_expires_mid_run_is_logged_into_again(dongle: HiLinkEmulator, start_loa: Any) -> None:
    client, transport = await start_loa(dongle)
    first = await send(client, "Loa: lịch họp tổ dân phố thứ bảy.")
    await settled(client)
    logins = dongle.requests.count("api/user/login")
    dongle.expire_session()  # the dongle's idle timeout: 125003 to a POST, 100003 to a GET
    second = await send(client, "Loa: nhắc lại lịch họp tổ dân phố thứ bảy.")
    dongle.receive(RESIDENT, "Đã nhận, cảm ơn")

    async def stored() -> bool:
        return bool(await sql(client, "select 1 from inbox where text='Đã nhận, cảm ơn'"))

    await until(client, stored)
    await settled(client)
    assert [s.content for s in dongle.sent if s.content.startswith("Loa:")] == [
        "Loa: lịch họp tổ dân phố thứ bảy.",
        "Loa: nhắc lại lịch họp tổ dân phố thứ bảy.",
    ]
    assert dongle.requests.count("api/user/login") > logins
    assert {await status(client, first), await status(client, second)} <= {"sent", "delivered"}
    assert transport.info.connected


async def test_a_dongle_rebooting_mid_batch_loses_no_message(dongle: HiLinkEmulator, start_loa: Any) -> None:
    client, transport = await start_loa(dongle)
    numbers = [f"+8496123450{i}" for i in range(6)]
    ids = [await send(client, f"Loa: thông báo số {i} của xã.", to=n) for i, n in enumerate(numbers)]
    await eventually(lambda: len(dongle.sent) >= 2)
    await dongle.reboot(1.0)  # connection refused for a second, then a new session
    await settled(client)
    # every message reached the network once: one whose answer the reboot cut was found in the
    # dongle's sent box rather than sent again
    assert sorted(s.phone for s in dongle.sent) == sorted(numbers)
    assert [await status(client, i) in ("sent", "delivered") for i in ids] == [True] * 6
    assert transport.info.connected


async def test_a_dongle_without_ussd_says_so(start_loa: Any) -> None:
    emu = HiLinkEmulator(ussd_mode="unsupported")
    await emu.start()
    try:
        client, _ = await start_loa(emu)
        resp = await client.post("/api/v1/ussd", json={"code": "*101#"}, headers=AUTH)
        assert resp.status == 503
        assert "không hỗ trợ USSD" in (await resp.json())["error"]
    finally:
        await emu.close()


async def test_loa_modems_finds_a_hilink_dongle(dongle: HiLinkEmulator, tmp_path: Path) -> None:
    found = await find_hilink(dongle.url, timeout=2.0)
    assert found == {"url": dongle.url, "model": "E3372h-320", "kind": "hilink"}
    # `loa modems` as a maintainer runs it: the dongle named, and the config lines to paste
    none = tmp_path / "no-such-port"
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "modems", str(none), "--hilink", dongle.url, stdout=asyncio.subprocess.PIPE
    )
    out = (await run.communicate())[0].decode()
    assert f"OK {dongle.url}: HiLink E3372h-320" in out and f'kind = "hilink"\nurl = "{dongle.url}"' in out
    await dongle.close()
    assert await find_hilink(dongle.url, timeout=1.0) is None


def test_a_hilink_modem_in_the_config(tmp_path: Path) -> None:
    config = make_config(tmp_path, "/dev/ttyUSB0", modems=[{"name": "dongle", "kind": "hilink"}])
    dongle = all_modems(config)[1]
    assert (dongle.kind, dongle.url, dongle.username) == ("hilink", "http://192.168.8.1/", "")
    with pytest.raises(ConfigError, match=r"modems\.kind"):
        make_config(tmp_path, "/dev/ttyUSB0", modems=[{"kind": "hilnk"}])
    with pytest.raises(ConfigError, match=r"modems\.url"):
        make_config(tmp_path, "/dev/ttyUSB0", modems=[{"name": "a", "kind": "hilink", "url": "192.168.8.1"}])
    with pytest.raises(ConfigError, match="named twice"):
        make_config(tmp_path, "/dev/ttyUSB0", modems=[{"name": "a", "kind": "hilink"}, {"name": "b", "kind": "hilink"}])


async def test_what_the_network_refuses_or_does_not_deliver_is_failed(dongle: HiLinkEmulator, start_loa: Any) -> None:
    client, _ = await start_loa(dongle, sms={"max_tries": 2})
    dongle.fail_to.add("+84961234501")  # send-status names it in FailPhone
    dongle.undeliverable.add("+84961234502")  # sent, then the report says not delivered (SmsType 8)
    refused = await send(client, "Loa: thông báo thử.", to="+84961234501")
    lost = await send(client, "Loa: thông báo thử.", to="+84961234502")

    async def both_failed() -> bool:
        return {await status(client, refused), await status(client, lost)} == {"failed"}

    await until(client, both_failed)
    errors = dict(await sql(client, "select id, last_error from outbox"))
    assert "từ chối" in errors[refused] and "delivery report: failed" in errors[lost]
    assert [s.phone for s in dongle.sent] == ["+84961234502"]  # the refused one never reached anyone


async def test_a_long_sms_the_dongle_is_still_joining_is_taken_whole(
    aiohttp_client: Any, tmp_path: Path, dongle: HiLinkEmulator
) -> None:
    client, transport = await start_with_dongle(aiohttp_client, tmp_path, dongle, settle=2.0)
    first_half = "Kính gửi ủy ban xã: đường vào thôn Nà Phìn bị sạt lở đoạn gần cầu treo, "
    dongle.receive(RESIDENT, first_half, sms_type=2)  # SmsType 2: its other part is not in yet
    await eventually(lambda: bool(transport._seen))
    (message,) = dongle.inbox.values()
    message.content = first_half + "xe máy không qua được. Đề nghị xã cho người kiểm tra."

    async def stored() -> bool:
        return bool(await sql(client, "select 1 from inbox"))

    await until(client, stored)
    assert await sql(client, "select text from inbox") == [(message.content,)]


async def test_an_sms_whose_answer_was_cut_is_not_sent_twice(dongle: HiLinkEmulator, start_loa: Any) -> None:
    client, _ = await start_loa(dongle)
    dongle.cut_send_answers = 1  # the dongle sends it; its "OK" never arrives
    message_id = await send(client, NOTICE)
    await settled(client)
    assert [s.content for s in dongle.sent] == [NOTICE]
    assert await status(client, message_id) in ("sent", "delivered")
    await eventually(lambda: not dongle.outbox)  # its copy, kept as proof meanwhile, is cleared too


async def test_a_wrong_password_is_said_plainly(dongle: HiLinkEmulator) -> None:
    config = ModemConfig(kind="hilink", url=dongle.url, username="admin", password="sai-mat-khau",
                         reconnect_min=0.05, reconnect_max=0.2)  # fmt: skip
    transport = HiLinkTransport(config)
    inbox: list[InboundPart] = []

    class Nowhere:
        async def handle_pdu(self, pdu_hex: str) -> None: ...

        async def handle_part(self, part: InboundPart) -> None:
            inbox.append(part)

        async def handle_receipt(self, remote_id: str, delivered: bool) -> None: ...

    await transport.start(Nowhere())
    try:
        await eventually(lambda: "đăng nhập bị từ chối" in (transport.info.last_error or ""))
        assert not transport.info.connected and transport.alive
    finally:
        await transport.close()
