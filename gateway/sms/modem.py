"""The Modem protocol the outbox and inbox rely on, and what a modem reports about itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gateway.sms.pdu import SubmitPdu


@dataclass
class ModemInfo:
    connected: bool = False
    emulated: bool = False
    manufacturer: str | None = None
    model: str | None = None
    signal: int | None = None  # +CSQ rssi, 0–31; None when unknown (99)
    operator: str | None = None
    smsc: str | None = None
    last_error: str | None = None

    @property
    def signal_dbm(self) -> int | None:
        return None if self.signal is None else -113 + 2 * self.signal


class PduHandler(Protocol):
    """Where a modem hands every PDU it receives. It must have persisted the PDU when it returns:
    only then does the modem delete it from its storage. It must not call the modem back."""

    async def handle_pdu(self, pdu_hex: str) -> None: ...


class Modem(Protocol):
    info: ModemInfo

    def attach(self, handler: PduHandler) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def wait_connected(self) -> None: ...

    async def send_pdu(self, pdu: SubmitPdu) -> int:
        """Submit one part; return the message reference the network gave it."""
        ...

    async def ussd(self, code: str) -> str: ...
