"""A fake HiLink dongle (Huawei E3372h / E8372 in HiLink mode): its web API at a loopback address.

Built from answers recorded on real dongles, not from guesses where a record was found:
- the `huawei-lte-api` client itself (Salamek/huawei-lte-api 2.0.1: Session.py, api/Sms.py, api/User.py,
  enums/sms.py, enums/client.py): how a session starts (GET / for a csrf meta, else webserver/token, else
  webserver/SesTokInfo), the token headers it reads back, the login's SHA-256 password type 4, the SMS
  list's request fields, the error codes 100002 (no support), 100003 (no rights: needs login), 100004
  (busy), 125002 (csrf), 125003 (wrong session token), and SmsType 7 / 8 (delivery report: delivered /
  not delivered);
- recorded XML in public wrappers of the E3372h: check-notifications (UnreadMessage, SmsStorageFull,
  OnlineUpdateStatus, SimOperEvent), sms-count (LocalInbox, LocalMax 500 …), sms-list messages (Smstat,
  Index from 40000, Phone, Content, Date, Sca, SaveType, Priority, SmsType), device/signal (rsrp, rsrq,
  rssi, sinr, band …), device/information (E3372h-320, Classify hilink), webserver/SesTokInfo (SesInfo,
  TokInfo), send-status (Phone, SucPhone, FailPhone, TotalCount, CurIndex; a failed send names the
  number in FailPhone);
- weselow/E3372-HiLink-Api-Docs (monitoring/status fields: ConnectionStatus 901, CurrentNetworkType 19
  = LTE, CurrentNetworkTypeEx 101, ServiceStatus 2, SimStatus 1, RoamingStatus);
- pablo/huawei-modem-python-api-client issue #19 (a dongle without USSD answers ussd/get with 100002),
  Salamek/huawei-lte-api issue #200 (ussd/send answers OK; the answer is read by polling ussd/get,
  which errs until it is there).
Not found recorded, so chosen here: 113018 answered to send-sms while the SMS system is busy (named so in
the brief, meaning unconfirmed) and 111019 answered to ussd/get while the answer is awaited.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

import xmltodict  # type: ignore[import-untyped]
from aiohttp import web
from gsmmodem.pdu import GSM7_BASIC, GSM7_EXTENDED

FIRST_INDEX = 40000
BUSY_SMS = 113018
USSD_WAIT = 111019
NO_SUPPORT = 100002
NO_RIGHTS = 100003
CSRF = 125002
WRONG_SESSION = 125003
_GSM7 = frozenset(GSM7_BASIC) | frozenset(GSM7_EXTENDED)


def segments(text: str) -> int:
    """SMS the dongle sends for one text, counted as a phone counts them (GSM-7 160/153, UCS-2 70/67)."""
    if all(c in _GSM7 for c in text):
        n = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return 1 if n <= 160 else math.ceil(n / 153)
    units = len(text.encode("utf-16-be")) // 2
    return 1 if units <= 70 else math.ceil(units / 67)


@dataclass
class Message:
    index: int
    phone: str
    content: str
    date: str
    smstat: int  # 0 unread, 1 read, 3 sent, 4 send failed
    sms_type: int = 1  # 1 single, 2 multipart, 7 report: delivered, 8 report: not delivered


@dataclass
class Sent:
    """One send-sms the network got: the whole text, and the SMS it took."""

    phone: str
    content: str
    segments: int
    text_mode: int


@dataclass
class HiLinkEmulator:
    """The dongle. Drive it from a test: `receive()` a resident's SMS, `expire_session()`, `reboot()`;
    read `sent` (what reached the network) and `requests` (every API path asked)."""

    password: str = ""  # "" = no login (the factory state of an E3372h); else admin / this
    capacity: int = 500  # LocalMax: SMS the dongle stores (inbox and sent box together)
    auto_report: bool = True  # the network reports each SMS delivered (when reports are asked for)
    ussd_mode: str = "answer"  # "answer", "unsupported" (100002), "silent" (never answers)
    ussd_answer: str = "TKC 125.000d, HSD 31/12/2026. Viettel tran trong cam on."
    busy_sends: int = 0  # the next send-sms calls answered 113018
    fail_to: set[str] = field(default_factory=set)  # numbers the network refuses (FailPhone)
    undeliverable: set[str] = field(default_factory=set)  # numbers whose report says not delivered
    sending_polls: int = 1  # send-status answers "still sending" (Phone) this often after each send
    cut_send_answers: int = 0  # the next send-sms calls are carried out, their answer never written
    use_report: int = 0  # sms/config UseSReport
    sent: list[Sent] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    inbox: dict[int, Message] = field(default_factory=dict)
    outbox: dict[int, Message] = field(default_factory=dict)
    waiting: list[tuple[str, str, int]] = field(default_factory=list)  # at the SMSC while the dongle is full

    def __post_init__(self) -> None:
        self._next = FIRST_INDEX
        self._session = ""
        self._tokens: list[str] = []
        self._logged_in = False
        self._ussd: str | None = None
        self._send_status = {"Phone": "", "SucPhone": "", "FailPhone": "", "TotalCount": "0", "CurIndex": "0"}
        self._runner: web.AppRunner | None = None
        self._sending, self._sending_to = 0, ""
        self.port = 0
        self.down = False

    # ---- driving it ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def full(self) -> bool:
        return len(self.inbox) + len(self.outbox) >= self.capacity

    def receive(self, phone: str, content: str, sms_type: int = 1) -> None:
        """A resident's SMS reaches the dongle; while its memory is full the network keeps it."""
        if self.full:
            self.waiting.append((phone, content, sms_type))
            return
        index = self._take_index()
        self.inbox[index] = Message(index, phone, content, _now(), 0, sms_type)

    def expire_session(self) -> None:
        """The dongle forgets the session (its idle timeout, or another login): the next call errs."""
        self._session = ""
        self._tokens.clear()
        self._logged_in = False

    async def reboot(self, down_for: float) -> None:
        """Power off for `down_for` seconds (connection refused), then back with no session; what the
        dongle stored in flash (its SMS) survives."""
        self.down = True
        await self._stop_site()
        self.expire_session()
        await asyncio.sleep(down_for)
        await self._start_site()
        self.down = False

    # ---- server ------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._start_site()

    async def _start_site(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._handle)
        # a reboot drops open connections at once, as a dongle losing power does
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        if not self.port:
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def _stop_site(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def close(self) -> None:
        await self._stop_site()

    def _take_index(self) -> int:
        self._next += 1
        return self._next - 1

    def _new_token(self) -> str:
        token = secrets.token_hex(16)
        self._tokens = [*self._tokens[-7:], token]
        return token

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.requests.append(path)
        cookie = request.cookies.get("SessionID", "")
        if path in ("", "html/home.html", "html/index.html"):
            response = web.Response(text="<html><head><title>HUAWEI</title></head><body></body></html>",
                                    content_type="text/html")  # fmt: skip
            if not self._session or cookie != self._session:
                self._session = secrets.token_hex(32)
                self._tokens.clear()
                self._logged_in = False
                response.set_cookie("SessionID", self._session, path="/")
            return response
        if not path.startswith("api/"):
            return web.Response(status=404)
        name = path[4:]
        body: dict[str, Any] = {}
        if request.method == "POST":
            raw = await request.read()
            if raw:
                body = (xmltodict.parse(raw.decode("utf-8", "surrogatepass")) or {}).get("request") or {}
        if name == "webserver/token":
            return _error(NO_SUPPORT)  # an E3372h of 2019–2021 firmware knows only SesTokInfo
        if name == "webserver/SesTokInfo":
            if not self._session:
                self._session = secrets.token_hex(32)
            return _xml({"SesInfo": f"SessionID={self._session}", "TokInfo": self._new_token()})
        if name in ("device/basic_information", "device/information"):
            return _xml(_INFORMATION)
        if cookie != self._session or not self._session:
            return _error(WRONG_SESSION if request.method == "POST" else NO_RIGHTS)
        if request.method == "POST":
            token = request.headers.get("__RequestVerificationToken", "")
            if token not in self._tokens:
                return _error(CSRF)
        if name == "user/state-login":
            return _xml({"State": "0" if self._logged_in else "-1", "Username": "admin" if self._logged_in else "",
                         "password_type": "4", "extern_password_type": "1", "firstlogin": "0"})  # fmt: skip
        if name == "user/login":
            return self._login(body, request)
        if name == "user/logout":
            self._logged_in = False
            return self._ok()
        if self.password and not self._logged_in:
            return _error(NO_RIGHTS)
        handler = _ROUTES.get(name)
        if handler is None:
            return _error(NO_SUPPORT)
        result: web.Response = handler(self, body)
        if name == "sms/send-sms" and self.cut_send_answers > 0 and "<error>" not in str(result.text):
            self.cut_send_answers -= 1
            assert request.transport is not None
            request.transport.close()  # sent, and the cable pulled before the answer
            return result
        if request.method == "POST":
            result.headers["__RequestVerificationToken"] = self._new_token()
        return result

    def _ok(self) -> web.Response:
        return web.Response(text='<?xml version="1.0" encoding="UTF-8"?><response>OK</response>',
                            content_type="text/xml")  # fmt: skip

    def _login(self, body: dict[str, Any], request: web.Request) -> web.Response:
        token = request.headers.get("__RequestVerificationToken", "")
        user = str(body.get("Username") or "")
        inner = base64.b64encode(hashlib.sha256(self.password.encode()).hexdigest().encode()).decode()
        expected = base64.b64encode(hashlib.sha256((user + inner + token).encode()).hexdigest().encode()).decode()
        if user != "admin" or body.get("Password") != expected:
            return _error(108006)
        self._logged_in = True
        response = self._ok()
        response.headers["__RequestVerificationToken"] = self._new_token()
        return response

    # ---- the API ---------------------------------------------------------------------------------

    def _notifications(self, body: dict[str, Any]) -> web.Response:
        unread = sum(1 for m in self.inbox.values() if m.smstat == 0)
        return _xml({"UnreadMessage": unread, "SmsStorageFull": int(self.full), "OnlineUpdateStatus": 13,
                     "SimOperEvent": 0})  # fmt: skip

    def _status(self, body: dict[str, Any]) -> web.Response:
        return _xml({"ConnectionStatus": 901, "WifiConnectionStatus": "", "SignalStrength": "", "SignalIcon": 4,
                     "CurrentNetworkType": 19, "CurrentServiceDomain": 3, "RoamingStatus": 0, "BatteryStatus": "",
                     "BatteryLevel": "", "simlockStatus": 0, "PrimaryDns": "", "SecondaryDns": "",
                     "CurrentNetworkTypeEx": 101, "ServiceStatus": 2, "SimStatus": 1, "WifiStatus": "",
                     "maxsignal": 5, "classify": "hilink", "flymode": 0, "cellroam": 1})  # fmt: skip

    def _signal(self, body: dict[str, Any]) -> web.Response:
        return _xml({"pci": 1, "sc": "", "cell_id": 2913293, "rsrq": "-13.0dB", "rsrp": "-106dBm",
                     "rssi": "-75dBm", "sinr": "6dB", "rscp": "", "ecio": "", "mode": 7, "band": 3, "tac": 5902,
                     "plmn": 45204})  # fmt: skip

    def _plmn(self, body: dict[str, Any]) -> web.Response:
        return _xml({"State": 0, "FullName": "Viettel", "ShortName": "Viettel", "Numeric": 45204, "Rat": 7})

    def _count(self, body: dict[str, Any]) -> web.Response:
        unread = sum(1 for m in self.inbox.values() if m.smstat == 0)
        return _xml({"LocalUnread": unread, "LocalInbox": len(self.inbox), "LocalOutbox": len(self.outbox),
                     "LocalDraft": 0, "LocalDeleted": 0, "SimUnread": 0, "SimInbox": 0, "SimOutbox": 0,
                     "SimDraft": 0, "LocalMax": self.capacity, "SimMax": 0, "SimUsed": 0,
                     "NewMsg": unread})  # fmt: skip

    def _list(self, body: dict[str, Any]) -> web.Response:
        box = self.inbox if str(body.get("BoxType")) == "1" else self.outbox
        page, per = int(body.get("PageIndex") or 1), int(body.get("ReadCount") or 20)
        ascending = str(body.get("Ascending")) == "1"
        rows = sorted(box.values(), key=lambda m: m.index, reverse=not ascending)[(page - 1) * per : page * per]
        messages = [{"Smstat": m.smstat, "Index": m.index, "Phone": m.phone, "Content": m.content, "Date": m.date,
                     "Sca": "", "SaveType": 4, "Priority": 0, "SmsType": m.sms_type} for m in rows]  # fmt: skip
        return _xml({"Count": len(rows), "Messages": {"Message": messages} if messages else ""})

    def _delete(self, body: dict[str, Any]) -> web.Response:
        index = int(body.get("Index") or 0)
        if self.inbox.pop(index, None) is None and self.outbox.pop(index, None) is None:
            return _error(113114)  # "sms not found", as one wrapper records it
        while self.waiting and not self.full:  # room again: the SMSC's next try gets in
            self.receive(*self.waiting.pop(0))
        return self._ok()

    def _set_read(self, body: dict[str, Any]) -> web.Response:
        m = self.inbox.get(int(body.get("Index") or 0))
        if m is not None:
            m.smstat = 1
        return self._ok()

    def _send(self, body: dict[str, Any]) -> web.Response:
        if self.busy_sends > 0:
            self.busy_sends -= 1
            return _error(BUSY_SMS)
        phones = (body.get("Phones") or {}).get("Phone") or []
        phones = phones if isinstance(phones, list) else [phones]
        content = str(body.get("Content") or "")
        ok, failed = [], []
        for phone in phones:
            index = self._take_index()
            refused = phone in self.fail_to
            self.outbox[index] = Message(index, phone, content, _now(), 4 if refused else 3)
            if refused:
                failed.append(phone)
                continue
            ok.append(phone)
            self.sent.append(Sent(phone, content, segments(content), int(body.get("Reserved") or 1)))
            if self.auto_report and self.use_report:
                self.receive(phone, f"{phone}", 8 if phone in self.undeliverable else 7)
        self._send_status = {"Phone": "", "SucPhone": ",".join(ok), "FailPhone": ",".join(failed),
                             "TotalCount": str(len(phones)), "CurIndex": str(len(phones))}  # fmt: skip
        self._sending = self.sending_polls
        self._sending_to = ",".join(phones)
        return self._ok()

    def _send_state(self, body: dict[str, Any]) -> web.Response:
        if self._sending > 0:
            self._sending -= 1
            return _xml({"Phone": self._sending_to, "SucPhone": "", "FailPhone": "",
                         "TotalCount": self._send_status["TotalCount"], "CurIndex": 0})  # fmt: skip
        return _xml(self._send_status)

    def _config(self, body: dict[str, Any]) -> web.Response:
        if body:
            self.use_report = int(str(body.get("UseSReport") or 0) in ("1", "true", "True"))
            return self._ok()
        return _xml({"SaveMode": 0, "Validity": 10752, "Sca": "+84980200030", "UseSReport": self.use_report,
                     "SendType": 1, "pagesize": 20, "maxphone": 50, "import_enabled": 1,
                     "url_enabled": 1, "cdma_enabled": 0, "sms_center_enabled": 1})  # fmt: skip

    def _ussd_send(self, body: dict[str, Any]) -> web.Response:
        if self.ussd_mode == "unsupported":
            return _error(NO_SUPPORT)
        self._ussd = None if self.ussd_mode == "silent" else self.ussd_answer
        return self._ok()

    def _ussd_get(self, body: dict[str, Any]) -> web.Response:
        if self.ussd_mode == "unsupported":
            return _error(NO_SUPPORT)
        if self._ussd is None:
            return _error(USSD_WAIT)
        answer, self._ussd = self._ussd, None
        return _xml({"content": answer})


_ROUTES = {
    "monitoring/check-notifications": HiLinkEmulator._notifications,
    "monitoring/status": HiLinkEmulator._status,
    "device/signal": HiLinkEmulator._signal,
    "net/current-plmn": HiLinkEmulator._plmn,
    "sms/sms-count": HiLinkEmulator._count,
    "sms/sms-list": HiLinkEmulator._list,
    "sms/delete-sms": HiLinkEmulator._delete,
    "sms/set-read": HiLinkEmulator._set_read,
    "sms/send-sms": HiLinkEmulator._send,
    "sms/send-status": HiLinkEmulator._send_state,
    "sms/config": HiLinkEmulator._config,
    "ussd/send": HiLinkEmulator._ussd_send,
    "ussd/get": HiLinkEmulator._ussd_get,
}

_INFORMATION = {
    "DeviceName": "E3372h-320", "SerialNumber": "G4P7S19A00000000", "Imei": "860000000000000",
    "Imsi": "452040000000000", "Iccid": "8984040000000000000", "Msisdn": "", "HardwareVersion": "CL4E3372HM",
    "SoftwareVersion": "10.0.3.1(H192SP1C983)", "WebUIVersion": "WEBUI 10.0.3.1(W13SP2C7110)",
    "ProductFamily": "LTE", "Classify": "hilink", "supportmode": "LTE|WCDMA|GSM", "workmode": "LTE",
    "devicename": "E3372h-320", "productfamily": "LTE", "classify": "hilink", "multimode": 0,
}  # fmt: skip


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


def _render(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(
            "".join(f"<{k}>{_render(v)}</{k}>" for v in item) if isinstance(item := value[k], list)
            else f"<{k}>{_render(item)}</{k}>"
            for k in value
        )  # fmt: skip
    return escape(str(value))


def _xml(values: dict[str, Any]) -> web.Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?><response>{_render(values)}</response>'
    return web.Response(text=text, content_type="text/xml")


def _error(code: int) -> web.Response:
    text = f'<?xml version="1.0" encoding="UTF-8"?><error><code>{code}</code><message></message></error>'
    return web.Response(text=text, content_type="text/xml")


async def start_loa(
    aiohttp_client: Any, tmp_path: Any, emu: HiLinkEmulator, clock: Any = None, settle: float = 0.0,
    **sections: dict[str, Any],
) -> tuple[Any, Any]:  # fmt: skip
    """The real app with this dongle as its only transport (as `[modem] kind = "hilink"` builds it),
    connected and on the network; (the test client, the transport)."""
    from gateway.app import create_app
    from gateway.config import all_modems
    from gateway.core.keys import NOTIFIER
    from gateway.sms.hilink import HiLinkTransport
    from gateway.testing.config import make_config
    from gateway.testing.helpers import until

    login = {"username": "admin", "password": emu.password} if emu.password else {}
    modem = {"kind": "hilink", "url": emu.url, "poll_interval": 0.3, "ussd_timeout": 3.0, **login}
    config = make_config(tmp_path, "emulator", modem={**modem, **sections.pop("modem", {})}, **sections)
    (m,) = all_modems(config)
    hooks: list[Any] = []

    def changed() -> None:
        for hook in hooks:
            hook()

    transport = HiLinkTransport(m, on_change=changed, settle=settle)
    app = create_app(config, transport=transport, **({"clock": clock} if clock is not None else {}))
    hooks.append(app[NOTIFIER].notify)
    client = await aiohttp_client(app)

    async def ready() -> bool:
        return transport.info.connected and transport.info.registration == "home"

    await until(client, ready)
    return client, transport
