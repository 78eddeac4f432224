"""A HiLink dongle (Huawei E3372h, E8372 …): no AT port, a web API at 192.168.8.1, driven through
`huawei-lte-api` (synchronous: each call runs in a thread, one at a time, bounded by a timeout)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import requests
from gsmmodem.pdu import Concatenation, decodeSmsPdu
from huawei_lte_api.Client import Client
from huawei_lte_api.Connection import Connection
from huawei_lte_api.enums.sms import BoxTypeEnum, TextModeEnum
from huawei_lte_api.exceptions import (
    ResponseErrorException,
    ResponseErrorLoginCsrfException,
    ResponseErrorLoginRequiredException,
    ResponseErrorNotSupportedException,
    ResponseErrorSystemBusyException,
    ResponseErrorWrongSessionToken,
)

from gateway.core import phone
from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.config import ModemConfig
from gateway.sms.encoding import is_gsm7
from gateway.sms.pdu import InboundPart, SubmitPdu
from gateway.sms.transport import Receiver, TransportInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_URL = "http://192.168.8.1/"
# the session is gone (idle timeout, a reboot, another login): log in again and ask once more
SESSION_LOST = (ResponseErrorWrongSessionToken, ResponseErrorLoginRequiredException, ResponseErrorLoginCsrfException)
BUSY_SMS = 113018  # send-sms while the dongle's SMS system is busy
DELIVERED, NOT_DELIVERED, MULTIPART = 7, 8, 2  # SmsType of a delivery report, and of a long SMS
PAGE = 20
NOTIFY_EVERY = 5.0  # at most this long between two check-notifications (cheap: one small GET)
SETTLE = 10.0  # a long SMS the dongle may still be joining is left this long (as the library does)
NETWORK_TYPES = {
    "0": "no service", "1": "GSM", "2": "GPRS", "3": "EDGE", "4": "WCDMA", "5": "HSDPA", "6": "HSUPA",
    "7": "HSPA", "8": "TD-SCDMA", "9": "HSPA+", "17": "HSPA+", "18": "HSPA+", "19": "LTE", "41": "3G",
    "44": "4G", "45": "4G+", "101": "LTE",
}  # fmt: skip
SIM_STATES = {"1": "READY", "0": "không có SIM (no SIM)", "255": "SIM không hợp lệ (invalid SIM)"}


def whole_text(pdu: SubmitPdu) -> tuple[str, str, tuple[int, int, int] | None]:
    """(number, the whole message's text, (reference, total, sequence) or None) of one part."""
    if pdu.part is not None:
        number, text, udh = pdu.part
        concat = (udh[3], udh[4], udh[5]) if len(udh) >= 6 else None
        return number, pdu.whole or text, concat
    decoded = decodeSmsPdu(pdu.hex)
    concat = None
    for ie in decoded.get("udh") or []:
        if isinstance(ie, Concatenation):
            concat = (int(ie.reference), int(ie.parts), int(ie.number))
    return str(decoded["number"]), pdu.whole or str(decoded.get("text", "")), concat


def _dbm(value: Any) -> float | None:
    try:
        return float(str(value).lower().replace("dbm", "").replace(">=", "").replace("<=", "").strip())
    except ValueError:
        return None


class HiLinkTransport:
    """One HiLink dongle. The dongle splits a long text itself: the first part of a message sends
    the whole text (counted by Loa the same way: the same GSM-7/UCS-2 rule and part sizes), its other
    parts are then already gone and only answer their references. Received SMS are read from its
    inbox when check-notifications says there are some (and on a slower sweep), handed to the
    receiver, and deleted only after the receiver returned."""

    def __init__(
        self, config: ModemConfig, on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time, *, settle: float = SETTLE,
    ) -> None:  # fmt: skip
        self.config = config
        self.on_change = on_change
        self._clock = clock
        self._settle = settle
        self.url = config.url or DEFAULT_URL
        self.info = TransportInfo(manufacturer="Huawei HiLink", model=self.url)
        self.network_type: str | None = None  # LTE, WCDMA …: what the serving cell is
        self._client: Client | None = None
        self._connection: Connection | None = None
        self._lock = asyncio.Lock()  # the library's session (cookies, tokens) is not thread-safe
        self._connected = asyncio.Event()
        self._registered = asyncio.Event()
        self._lost = asyncio.Event()
        self._closing = asyncio.Event()
        self._receiver: Receiver | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._seen: dict[int, tuple[str, float]] = {}  # long SMS waiting to settle: index → content, seen at
        self._reports: dict[str, deque[tuple[str, int]]] = {}  # number → (message id, parts) awaiting report
        self._sweep_at = 0.0
        self._unanswered: set[tuple[str, str]] = set()  # (number, text) sent without an answer

    # ---- the Transport interface -----------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        self._supervisor = asyncio.create_task(self._supervise(), name=f"hilink:{self.url}")

    async def close(self) -> None:
        self._closing.set()
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.wait({self._supervisor}, timeout=5.0)
        await self._disconnect()

    async def wait_connected(self) -> None:
        """Connected and on a network: a dongle searching for one would only burn messages' tries."""
        await self._connected.wait()
        await self._registered.wait()

    async def send_pdu(self, pdu: SubmitPdu) -> int | str:
        number, text, concat = whole_text(pdu)
        total, seq = (concat[1], concat[2]) if concat else (1, 1)
        message = hashlib.sha1(f"{number}\0{text}\0{concat[0] if concat else ''}".encode()).hexdigest()[:16]
        if seq > 1 and pdu.whole:
            return f"hilink:{message}:{seq}"  # the dongle sent it with the first part's whole text
        # without the whole text (a part built elsewhere) each part goes as an SMS of its own
        mode = TextModeEnum.SEVEN_BIT if is_gsm7(text) else TextModeEnum.UCS2
        # awaited before the send: its report may be read from the inbox before send-status answers
        awaiting = (message, total if pdu.whole else 1)
        reports = self._reports.setdefault(phone.key(number), deque(maxlen=200))
        if awaiting not in reports:
            reports.append(awaiting)
        unanswered = (phone.key(number), text)
        if unanswered in self._unanswered and await self._in_sent_box(number, text):
            # the dongle had sent it when its answer was cut (a reboot, a pulled cable): not twice
            self._unanswered.discard(unanswered)
            log.warning("HiLink %s: an SMS to %s whose answer was lost had gone out; not sent again", self.url, number)
            return f"hilink:{message}:{seq}"
        try:
            await self._call(lambda c: c.sms.send_sms([number], text, text_mode=mode), sending=True)
        except ModemUnavailable as e:
            if e.__cause__ is None:  # refused with an answer (busy, no session): nothing went out
                reports.remove(awaiting)
            else:  # no answer: it may have gone out; asked of the sent box before it is sent again
                self._unanswered.add(unanswered)
            raise
        except BaseException:
            reports.remove(awaiting)
            raise
        self._unanswered.add(unanswered)  # taken by the dongle: until send-status says how it went
        try:
            await self._confirm(number)
        except ModemUnavailable:
            raise  # the dongle took it, its outcome unheard: the sent box is asked before a resend
        except BaseException:
            self._unanswered.discard(unanswered)
            reports.remove(awaiting)  # refused by the network: no report will come
            raise
        self._unanswered.discard(unanswered)
        return f"hilink:{message}:{seq}"

    async def _in_sent_box(self, number: str, text: str) -> bool:
        found = await self._call(_page(BoxTypeEnum.LOCAL_SENT, 1, 50))
        key = phone.key(number)
        return any(
            phone.key(str(m.get("Phone") or "")) == key and str(m.get("Content") or "") == text
            and str(m.get("Smstat")) == "3"
            for m in (found.get("Messages") or {}).get("Message") or []
        )  # fmt: skip

    async def ussd(self, code: str) -> str:
        try:
            await self._call(lambda c: c.ussd.send(code))
        except ResponseErrorNotSupportedException:
            raise ModemError("Dongle không hỗ trợ USSD (USSD not supported)", transient=False) from None
        except ResponseErrorException as e:
            raise ModemError(f"USSD bị từ chối (USSD refused: {e.code})", code=e.code) from None
        deadline = time.monotonic() + self.config.ussd_timeout
        while time.monotonic() < deadline:
            try:
                answer = await self._call(lambda c: c.ussd.get())
            except ResponseErrorNotSupportedException:
                raise ModemError("Dongle không hỗ trợ USSD (USSD not supported)", transient=False) from None
            except ResponseErrorException:
                await asyncio.sleep(0.5)  # the answer is not there yet
                continue
            return str(answer.get("content") or "")
        raise ModemError(f"Không có trả lời USSD sau {self.config.ussd_timeout:.0f} s (no USSD answer)")

    # ---- calls into the library ----------------------------------------------------------------

    async def _call(self, fn: Callable[[Client], T], *, sending: bool = False) -> T:
        """One library call in a thread, bounded; a lost session is logged into again once; a dongle
        that does not answer (rebooting, unplugged) is lost: the supervisor reconnects."""
        async with self._lock:
            for attempt in (1, 2):
                client = self._client
                if client is None:
                    raise ModemUnavailable(f"HiLink {self.url}: chưa kết nối (not connected)")
                try:
                    async with asyncio.timeout(self.config.command_timeout + 1):
                        return await asyncio.to_thread(fn, client)
                except SESSION_LOST as e:
                    if attempt == 2:
                        why = f"phiên làm việc bị từ chối ({e})"
                        if isinstance(e, ResponseErrorLoginRequiredException) and not self.config.password:
                            why = "dongle đòi đăng nhập: đặt username và password (it needs a login)"
                        self.info.last_error = why
                        raise ModemUnavailable(f"HiLink {self.url}: {why}") from None
                    log.info("HiLink %s: session gone (%s); logging in again", self.url, e)
                    await self._login()
                except ResponseErrorSystemBusyException as e:
                    raise ModemUnavailable(f"HiLink {self.url}: dongle bận (busy, {e.code})") from None
                except ResponseErrorException as e:
                    if sending and e.code == BUSY_SMS:
                        raise ModemUnavailable(f"HiLink {self.url}: hệ thống SMS bận (SMS system busy)") from None
                    raise
                except (requests.RequestException, TimeoutError, OSError) as e:
                    self._mark_lost(f"không trả lời ({type(e).__name__})")
                    raise ModemUnavailable(f"HiLink {self.url}: không trả lời (no answer: {type(e).__name__})") from e
        raise AssertionError("unreachable")

    async def _login(self) -> None:
        """A new session (and login, when a password is set) in a thread; the old one is dropped."""
        old = self._connection
        c = self.config
        timeout = c.command_timeout

        def connect() -> tuple[Connection, Client]:
            if old is not None:
                with contextlib.suppress(Exception):
                    old.requests_session.close()
            conn = Connection(self.url, username=c.username or None, password=c.password or None, timeout=timeout)
            return conn, Client(conn)

        try:
            async with asyncio.timeout(timeout * 3 + 1):
                self._connection, self._client = await asyncio.to_thread(connect)
        except (requests.RequestException, TimeoutError, OSError) as e:
            self._client = self._connection = None
            self._mark_lost(f"không kết nối được ({type(e).__name__})")
            raise ModemUnavailable(f"HiLink {self.url}: không kết nối được ({type(e).__name__})") from e
        except ResponseErrorException as e:
            self._client = self._connection = None
            raise ModemError(f"HiLink {self.url}: đăng nhập bị từ chối (login refused: {e})", transient=False) from e

    async def _disconnect(self) -> None:
        conn, self._connection, self._client = self._connection, None, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(conn.requests_session.close)

    def _mark_lost(self, why: str) -> None:
        self.info.last_error = why
        self._lost.set()
        if self._connected.is_set():
            self._connected.clear()
            self.info.connected = False
            log.warning("HiLink %s lost: %s", self.url, why)
            self.on_change()

    # ---- connection lifecycle ------------------------------------------------------------------

    async def _supervise(self) -> None:
        backoff = self.config.reconnect_min
        while not self._closing.is_set():
            try:
                self._lost.clear()
                async with self._lock:
                    await self._login()
                await self._setup()
                self.info.connected, self.info.last_error = True, None
                self._connected.set()
                backoff = self.config.reconnect_min
                log.info("HiLink %s ready: %s, %s, signal %s", self.url, self.info.operator, self.network_type,
                         self.info.signal)  # fmt: skip
                self.on_change()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.info.last_error = str(e) or type(e).__name__
                log.warning("HiLink %s unavailable: %s", self.url, self.info.last_error)
                if isinstance(e, ModemError) and not e.transient:
                    backoff = self.config.reconnect_max  # a wrong password: a person must act
            self._mark_lost(self.info.last_error or "lost")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff):
                    await self._closing.wait()
            backoff = min(backoff * 2, self.config.reconnect_max)

    async def _setup(self) -> None:
        """What the dongle is, and delivery reports asked for (the firmware's UseSReport)."""
        info = await self._call(lambda c: c.device.information())
        self.info.model = f"{info.get('DeviceName') or 'HiLink'} ({self.url})"
        with contextlib.suppress(ResponseErrorException):
            sms = await self._call(lambda c: c.sms.config())
            if str(sms.get("UseSReport")) != "1":
                await self._call(lambda c: c.sms.set_config(str(sms.get("Sca") or ""), use_s_report=True))
            self.info.smsc = sms.get("Sca") or None
        await self._status()

    async def _status(self) -> None:
        """Network, SIM, signal and memory, as the console shows them."""
        status = await self._call(lambda c: c.monitoring.status())
        service = str(status.get("ServiceStatus"))
        roaming = str(status.get("RoamingStatus")) == "1"
        self.info.registration = ("roaming" if roaming else "home") if service == "2" else "searching"
        kind = NETWORK_TYPES.get(str(status.get("CurrentNetworkTypeEx") or ""))
        self.network_type = kind or NETWORK_TYPES.get(str(status.get("CurrentNetworkType")))
        self.info.sim = SIM_STATES.get(str(status.get("SimStatus")), f"SIM {status.get('SimStatus')}")
        with contextlib.suppress(ResponseErrorException):
            plmn = await self._call(lambda c: c.net.current_plmn())
            self.info.operator = plmn.get("ShortName") or plmn.get("FullName") or None
        with contextlib.suppress(ResponseErrorException):
            signal = await self._call(lambda c: c.device.signal())
            rssi = _dbm(signal.get("rssi"))
            self.info.signal = None if rssi is None else max(0, min(31, round((rssi + 113) / 2)))
        with contextlib.suppress(ResponseErrorException):
            count = await self._call(lambda c: c.sms.sms_count())
            used = int(count.get("LocalInbox") or 0) + int(count.get("LocalOutbox") or 0)
            self.info.memories = {"dongle": f"{used}/{count.get('LocalMax') or '?'}"}
        if self.info.registration in ("home", "roaming"):
            self._registered.set()
        else:
            self._registered.clear()

    async def _watch(self) -> None:
        """Poll while connected: check-notifications often, the inbox when it says so, the rest slower."""
        self._sweep_at = 0.0
        notify = min(NOTIFY_EVERY, self.config.poll_interval)
        while not self._lost.is_set():
            now = time.monotonic()
            sweep = now >= self._sweep_at
            try:
                if sweep:
                    self._sweep_at = now + self.config.poll_interval
                    await self._status()
                    self.on_change()
                note = await self._call(lambda c: c.monitoring.check_notifications())
                full = str(note.get("SmsStorageFull")) == "1"
                if full:
                    log.warning("HiLink %s: SMS memory full; reading and deleting what it holds", self.url)
                if sweep or full or int(note.get("UnreadMessage") or 0) > 0 or self._seen:
                    await self._read_inbox()
                if sweep:
                    await self._clear_sent()
            except ModemUnavailable:
                if self._lost.is_set():
                    return
            except ResponseErrorException as e:
                log.warning("HiLink %s: %s", self.url, e)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(notify):
                    await self._lost.wait()

    async def _confirm(self, number: str) -> None:
        """send-status until the dongle says this number succeeded or failed."""
        deadline = time.monotonic() + self.config.send_timeout
        key = phone.key(number)
        while time.monotonic() < deadline:
            state = await self._call(lambda c: c.sms.send_status())
            if any(phone.key(n) == key for n in str(state.get("Phone") or "").split(",") if n):
                await asyncio.sleep(0.5)  # still going out (Phone: the numbers being sent to)
                continue
            if any(phone.key(n) == key for n in str(state.get("FailPhone") or "").split(",") if n):
                raise ModemError("Mạng từ chối tin nhắn (the network refused the SMS)")
            if any(phone.key(n) == key for n in str(state.get("SucPhone") or "").split(",") if n):
                return
            await asyncio.sleep(0.5)
        # the dongle took it and says nothing more: counted sent (a second send would duplicate it)
        log.warning("HiLink %s: no send-status for %s in %.0f s; counted sent", self.url, number,
                    self.config.send_timeout)  # fmt: skip

    async def _read_inbox(self) -> None:
        """Every message of the inbox, oldest first: reports matched, SMS stored, then each deleted."""
        assert self._receiver is not None
        messages: list[dict[str, Any]] = []
        page = 1
        while True:
            found = await self._call(_page(BoxTypeEnum.LOCAL_INBOX, page, PAGE))
            batch = (found.get("Messages") or {}).get("Message") or []
            messages += batch
            if len(batch) < PAGE:
                break
            page += 1
        now = time.monotonic()
        present = set()
        for m in messages:
            index, number, content = int(m["Index"]), str(m.get("Phone") or ""), str(m.get("Content") or "")
            present.add(index)
            kind = int(m.get("SmsType") or 1)
            if kind == MULTIPART and self._settle > 0:
                seen = self._seen.get(index)
                if seen is None or seen[0] != content:
                    self._seen[index] = (content, now)
                    continue
                if now - seen[1] < self._settle:
                    continue
            if kind in (DELIVERED, NOT_DELIVERED):
                await self._report(number, kind == DELIVERED)
            else:
                await self._receiver.handle_part(_inbound(number, content, str(m.get("Date") or "")))
            # stored (or matched): only now may the dongle forget it
            with contextlib.suppress(ResponseErrorException):
                await self._call(_delete(index))
            self._seen.pop(index, None)
        for index in set(self._seen) - present:
            del self._seen[index]

    async def _report(self, number: str, delivered: bool) -> None:
        """A delivery report names the number only: it settles the oldest message awaiting one there."""
        assert self._receiver is not None
        waiting = self._reports.get(phone.key(number))
        if not waiting:
            log.info("HiLink %s: a delivery report for %s matches nothing sent since the start", self.url, number)
            return
        message, parts = waiting.popleft()
        for seq in range(1, parts + 1):
            await self._receiver.handle_receipt(f"hilink:{message}:{seq}", delivered)

    async def _clear_sent(self) -> None:
        """The dongle keeps a copy of each SMS it sent, in the memory received ones need: deleted."""
        found = await self._call(_page(BoxTypeEnum.LOCAL_SENT, 1, 50))
        for m in (found.get("Messages") or {}).get("Message") or []:
            kept = (phone.key(str(m.get("Phone") or "")), str(m.get("Content") or "")) in self._unanswered
            if str(m.get("Smstat")) in ("3", "4") and not kept:  # kept: the proof a lost answer's SMS went
                index = int(m["Index"])
                with contextlib.suppress(ResponseErrorException):
                    await self._call(_delete(index))


def _page(box: BoxTypeEnum, page: int, count: int) -> Callable[[Client], dict[str, Any]]:
    return lambda c: c.sms.get_sms_list(page, box, count, ascending=True)


def _delete(index: int) -> Callable[[Client], str]:
    return lambda c: c.sms.delete_sms(index)


def _inbound(number: str, content: str, date: str) -> InboundPart:
    """A whole SMS the dongle joined itself: one part for the inbox; the same SMS read twice (a
    crash before its deletion) has the same digest and is stored once."""
    sent_at = None
    with contextlib.suppress(ValueError):
        sent_at = datetime.strptime(date, "%Y-%m-%d %H:%M:%S")
    digest = hashlib.sha256(f"hilink\0{number}\0{date}\0{content}".encode()).hexdigest()
    # The HiLink API gives the sender as text, without its type of number: a name spelled only in
    # digits ("0912000001" sent as alphanumeric) cannot be told from that number here. A sender with
    # anything but digits and a leading + is a name; the rest is taken for a number (docs/security.md).
    alphanumeric = not number.removeprefix("+").isdigit()
    return InboundPart(number, content.encode("utf-16-be", "surrogatepass"), sent_at, None, digest, alphanumeric)


async def find_hilink(url: str = DEFAULT_URL, timeout: float = 2.0) -> dict[str, str] | None:
    """A HiLink dongle answering at `url` (what `loa modems` shows), or None: its API answers
    webserver/SesTokInfo or device/basic_information with XML."""
    base = url if url.endswith("/") else url + "/"

    def ask() -> dict[str, str] | None:
        for path in ("api/device/basic_information", "api/webserver/SesTokInfo"):
            response = requests.get(base + path, timeout=timeout)
            text = response.content.decode("utf-8", "replace")
            if response.status_code == 200 and "<response>" in text:
                name = _tag(text, "devicename") or _tag(text, "DeviceName") or "HiLink"
                return {"url": base, "model": name, "kind": "hilink"}
        return None

    try:
        return await asyncio.to_thread(ask)
    except (requests.RequestException, OSError):
        return None


def _tag(xml: str, name: str) -> str:
    start = xml.find(f"<{name}>")
    end = xml.find(f"</{name}>", start)
    return xml[start + len(name) + 2 : end].strip() if start >= 0 and end > start else ""
