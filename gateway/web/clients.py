"""Who is asking: the client's address behind a trusted proxy, and how many of its logins run at once."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from aiohttp import web

from gateway.core.errors import LoginRefused

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.1", "::1")
IN_FLIGHT = 2  # logins from one address checked at once; one more is refused without any work
ARGON2_AT_ONCE = 2  # password checks running at once, whoever asks: each takes 64 MiB for ~0.1 s
THROTTLE_NOTE = 60.0  # seconds: refusals of a throttled address are counted, one audit row a minute
FORWARDED = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _within(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().removeprefix("[").split("]")[0])
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(request: web.Request, trusted: Sequence[Network]) -> str:
    """The peer, or, when the peer is a trusted proxy, the last address in X-Forwarded-For that is
    not one of the trusted proxies (the ones before it are whatever the client chose to write)."""
    peer = request.remote or "?"
    if not _within(peer, trusted):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getall("X-Forwarded-For", [])).split(",") if h.strip()]
    for hop in reversed(hops[-16:]):  # a proxy chain longer than 16 is someone's invention
        if not _within(hop, trusted):
            return hop[:64] if _valid(hop) else peer
    return hops[0] if hops and _valid(hops[0]) else peer


def _valid(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True


def is_local(request: web.Request) -> bool:
    """The Pi itself asks: a loopback peer that no proxy forwarded. A forwarded request is some
    client's, wherever it came from (a local Prometheus names nobody)."""
    return (request.remote or "") in LOOPBACK and not any(h in request.headers for h in FORWARDED)


def over_tls(request: web.Request, trusted: Sequence[Network]) -> bool:
    """The browser reached us over TLS: directly, or through a trusted proxy that says so."""
    if request.scheme == "https":
        return True
    if not _within(request.remote or "", trusted):
        return False
    said = ",".join(request.headers.getall("X-Forwarded-Proto", [])).split(",")[-1].strip().lower()
    return said == "https"


@dataclass
class LoginGate:
    """Bounds the work logins make: at most IN_FLIGHT from one address, ARGON2_AT_ONCE in all."""

    busy: dict[str, int] = field(default_factory=dict)
    argon2: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(ARGON2_AT_ONCE))
    # address → (when its refusals were last written to the audit log, refusals since)
    refused: dict[str, tuple[float, int]] = field(default_factory=dict)

    @contextlib.contextmanager
    def enter(self, address: str) -> Iterator[None]:
        if self.busy.get(address, 0) >= IN_FLIGHT:
            raise LoginRefused("Đang kiểm tra đăng nhập khác từ máy này; thử lại sau giây lát", throttled=True)
        self.busy[address] = self.busy.get(address, 0) + 1
        try:
            yield
        finally:
            self.busy[address] -= 1
            if not self.busy[address]:
                del self.busy[address]

    def note_refusal(self, address: str, now: float) -> int | None:
        """A throttled refusal: how many to write as one audit row now (this one included), or None
        while the address's row of this minute is written already."""
        last, count = self.refused.get(address, (float("-inf"), 0))
        if now - last < THROTTLE_NOTE:
            self.refused[address] = (last, count + 1)
            return None
        if len(self.refused) > 10_000:  # many addresses at once: forget the quiet ones, keep memory flat
            self.refused = {a: v for a, v in self.refused.items() if now - v[0] < THROTTLE_NOTE}
        self.refused[address] = (now, 0)
        return count + 1
