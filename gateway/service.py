"""Running under systemd: READY/STOPPING/WATCHDOG notifications, sent only while Loa is really alive."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from gateway.core.store import Store
from gateway.sms.transport import Transport

log = logging.getLogger(__name__)


def notify(message: str) -> bool:
    """One sd_notify datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract namespace);
    False when not started by systemd with Type=notify."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(target)
            sock.sendall(message.encode())
        except OSError as e:
            log.warning("could not notify systemd (%s): %s", address, e)
            return False
    return True


def watchdog_interval() -> float | None:
    """Half of WatchdogSec (systemd passes it as $WATCHDOG_USEC), or None when there is no watchdog."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def watchdog(store: Store, transports: Transport | list[Transport], interval: float) -> None:
    """WATCHDOG=1 every `interval` while the event loop turns (this task runs), the store thread
    answers within the interval, and every transport's supervisor runs (each modem of a pool, SMPP);
    otherwise silence, and systemd restarts the service when WatchdogSec passes."""
    every = transports if isinstance(transports, list) else [transports]
    while True:
        try:
            async with asyncio.timeout(interval):
                await store.call(lambda db: db.execute("select 1").fetchone())
            if all(t.alive for t in every):
                notify("WATCHDOG=1")
            else:
                log.error(
                    "a modem's (or SMPP's) supervisor is not running: no watchdog ping (systemd will restart Loa)"
                )
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a store that does not answer: no ping this time
            log.error("store did not answer within %.0f s (%s): no watchdog ping", interval, e or type(e).__name__)
        await asyncio.sleep(interval)
