"""Every configured transport, built: each modem of the pool, then SMPP, each its own outbox channel."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence

from gateway.core.clock import Clock
from gateway.sms.at import ATModem
from gateway.sms.config import ModemConfig, SmppConfig
from gateway.sms.hilink import HiLinkTransport
from gateway.sms.outbox import Channel
from gateway.sms.smpp import SmppTransport
from gateway.sms.transport import Transport


def build(
    modems: Sequence[ModemConfig],
    smpp: SmppConfig,
    *,
    clock: Clock,
    changed: Callable[[], None],
    tell: Callable[[str], Awaitable[None]],
    emulated: Collection[str] = (),
) -> list[Channel]:
    """One channel a transport. `changed` is called when a transport comes or goes, `tell` texts the
    maintainers that a modem is back after a power cycle; `emulated` names the ports of demo emulators."""
    channels = [
        Channel(m.name, _modem(m, clock, changed, tell, emulated), carrier=m.carrier, per_minute=m.per_minute)
        for m in modems
    ]
    if smpp.enabled:
        transport = SmppTransport(smpp, on_change=changed)
        channels.append(Channel("smpp", transport, smpp=True, window=smpp.window, per_minute=smpp.per_second * 60))
    return channels


def _modem(
    m: ModemConfig,
    clock: Clock,
    changed: Callable[[], None],
    tell: Callable[[str], Awaitable[None]],
    emulated: Collection[str],
) -> Transport:
    """A modem of the pool: a HiLink dongle's web API, or a modem on a serial port."""
    if m.kind == "hilink":
        return HiLinkTransport(m, on_change=changed, clock=clock)
    return ATModem(m, emulated=m.port in emulated, on_change=changed, clock=clock, on_back=tell)
