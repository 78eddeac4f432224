"""The Transport interface: how the outbox sends, where received SMS and reports go, and health."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from gateway.sms.pdu import InboundPart, SubmitPdu


@dataclass
class TransportInfo:
    """What a transport reports about itself (for /healthz, the console and the outbox)."""

    connected: bool = False
    emulated: bool = False
    manufacturer: str | None = None
    model: str | None = None
    signal: int | None = None  # +CSQ rssi, 0–31; None when unknown (99)
    operator: str | None = None
    smsc: str | None = None
    last_error: str | None = None
    sim: str | None = None  # "READY", or what is wrong with the SIM in plain words
    registration: str | None = None  # home, roaming, searching, denied, not registered; None: unknown
    # each domain the modem answers for: "cs" (+CREG), "ps" (+CGREG), "eps" (+CEREG, LTE), "5gs" (+C5GREG)
    domains: dict[str, str] = field(default_factory=dict)
    access: str | None = None  # the serving cell's radio (+COPS AcT): GSM, UTRAN, E-UTRAN, NR
    rsrp: int | None = None  # LTE signal (dBm), where +CSQ says 99 on LTE
    rsrq: float | None = None  # LTE signal quality (dB)
    # what this modem can still do in Vietnam (2G is off since 15 Sep 2026, 3G planned off Sep 2028)
    generation: str | None = None  # "2g", "3g", "4g"
    coverage: str | None = None  # the same in plain words, when it matters; None for an LTE modem
    slow_network: bool = False  # submits take far longer than they did: a congested cell
    memories: dict[str, str] = field(default_factory=dict)  # SMS memory → "used/total"
    cannot: list[str] = field(default_factory=list)  # what this modem cannot do, in plain words
    # the network's time (NITZ, read by AT+CCLK?) minus the app's clock, in seconds; None: unknown
    network_offset: float | None = None
    # the exchange in progress (a submit), when it began (time.monotonic) and after how long it is overdue
    busy_with: str | None = None
    busy_since: float = 0.0
    busy_expected: float = 0.0

    @property
    def overdue(self) -> float | None:
        """Seconds an exchange has run past what this modem usually takes, or None."""
        if self.busy_with is None:
            return None
        late = time.monotonic() - self.busy_since - self.busy_expected
        return late if late > 0 else None

    @property
    def signal_dbm(self) -> int | None:
        return None if self.signal is None else -113 + 2 * self.signal


class CallHandler(Protocol):
    """Told the caller's number of a call the transport hung up at once (a missed call, "gọi nháy")."""

    async def __call__(self, number: str) -> None: ...


class Receiver(Protocol):
    """Where a transport hands every PDU it receives (SMS-DELIVER or SMS-STATUS-REPORT). It has
    persisted the PDU when it returns: only then may the transport delete it from its storage.
    It must not call the transport back."""

    async def handle_pdu(self, pdu_hex: str) -> None: ...

    async def handle_part(self, part: InboundPart) -> None:
        """One received SMS (or part of one) a text transport (SMPP) decoded itself."""
        ...

    async def handle_receipt(self, remote_id: str, delivered: bool) -> None:
        """An SMSC's delivery receipt for the part it gave `remote_id`."""
        ...


class Transport(Protocol):
    """One way out to the network: the AT modem now; a pool of modems or SMPP to the carrier later.
    The outbox only ever sees this; a transport that speaks text rather than PDUs (SMPP) reads the
    part's text and concatenation header back out of the SubmitPdu."""

    info: TransportInfo

    async def start(self, receiver: Receiver) -> None:
        """Connect (and keep reconnecting) in the background; deliver what arrives to `receiver`."""
        ...

    async def close(self) -> None: ...

    @property
    def alive(self) -> bool:
        """Its supervising task still runs (connected or reconnecting): the service watchdog asks."""
        ...

    async def wait_connected(self) -> None: ...

    async def send_pdu(self, pdu: SubmitPdu) -> int | str:
        """Submit one part; return the message reference the network gave it (a modem's TP-MR, or an
        SMSC's message id)."""
        ...

    async def ussd(self, code: str) -> str: ...


class TakesCalls(Protocol):
    """A transport with a phone number people can ring (a modem), beside its receiver: it hangs
    each call up at once (free for the caller) and hands the caller's number to `on_call`; None:
    calls are hung up and logged only. SMPP and HiLink take no calls, so this is its own interface."""

    on_call: CallHandler | None
