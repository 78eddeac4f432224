"""Debian's Kannel 1.4.5 on loopback for the comparison tests: bearerbox, smsbox and fakesmsc as the SMSC."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BEARERBOX, SMSBOX, FAKESMSC = "/usr/sbin/bearerbox", "/usr/sbin/smsbox", "/usr/lib/kannel/test/fakesmsc"
USERNAME, PASSWORD = "loa", "secret-secret"  # the same account on Kannel and on Loa
OPTED_OUT = "0987000111"  # Kannel's black-list; on Loa, a resident who sent HUY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Kannel:
    folder: Path
    sendsms_port: int
    smsc_port: int
    service_port: int  # the sms-service's get-url points here
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def sendsms(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    @contextlib.contextmanager
    def smsc(self, *messages: str) -> Iterator[Path]:
        """fakesmsc connected as the SMSC (it acknowledges and reports delivered what is sent), sending
        `messages` ("sender receiver text words…") as residents' SMS; yields its log."""
        log = self.folder / f"fakesmsc-{time.monotonic_ns()}.log"
        connected = self._connections()
        args = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.smsc_port), "-i", "0.1", "-m", str(len(messages))]
        with log.open("wb") as out:
            # with nothing to send it still needs a message to stay connected (-m 0 sends none)
            proc = subprocess.Popen([*args, *(messages or ["1 2 text unused"])], stdout=out, stderr=subprocess.STDOUT)
        try:
            # bearerbox takes one fakesmsc at a time; until it has, smsbox answers "3: Queued for later"
            for _ in range(200):
                if self._connections() > connected or proc.poll() is not None:
                    break
                time.sleep(0.02)
            assert self._connections() > connected, f"fakesmsc did not connect: {log.read_text(errors='replace')}"
            yield log
        finally:
            proc.kill()
            proc.wait()

    def _connections(self) -> int:
        return (self.folder / "bearerbox.log").read_text(errors="replace").count("Fakesmsc client connected")


CONF = """\
group = core
admin-port = {admin}
admin-password = not-used-here
admin-interface = 127.0.0.1
smsbox-port = {box}
log-file = {folder}/bearerbox.log
log-level = 1
dlr-storage = internal
store-type = file
store-location = {folder}/store

group = smsc
smsc = fake
smsc-id = FAKE
port = {smsc}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box}
sendsms-port = {sendsms}
sendsms-interface = 127.0.0.1
log-file = {folder}/smsbox.log
log-level = 1
global-sender = 1234

group = sendsms-user
username = {username}
password = {password}
black-list-regex = ^{opted_out}$
concatenation = true
max-messages = 10

group = sms-service
keyword = default
get-url = "http://127.0.0.1:{service}/mo?from=%p&to=%P&kw=%k&next=%s&rest=%r&all=%a&t=%t&T=%T"
max-messages = 1
"""


def start(folder: Path) -> Kannel:
    """Kannel up on free loopback ports, or the test fails saying how to install it (never a skip)."""
    missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(
            f"Kannel is needed for the comparison tests: {', '.join(missing)} missing."
            " Install Debian's kannel and kannel-extras (make deps installs the Makefile's DEBS as root)."
        )
    k = Kannel(folder, free_port(), free_port(), free_port())
    conf = folder / "kannel.conf"
    conf.write_text(
        CONF.format(
            admin=free_port(), box=free_port(), smsc=k.smsc_port, sendsms=k.sendsms_port, service=k.service_port,
            folder=folder, username=USERNAME, password=PASSWORD, opted_out=OPTED_OUT,
        )
    )  # fmt: skip
    for binary in (BEARERBOX, SMSBOX):
        with (folder / f"{Path(binary).name}.out").open("wb") as out:
            k.procs.append(subprocess.Popen([binary, str(conf)], stdout=out, stderr=subprocess.STDOUT))
        _wait_port(k.smsc_port if binary == BEARERBOX else k.sendsms_port, k, folder)
    return k


def stop(k: Kannel) -> None:
    # SIGKILL: its graceful shutdown takes seconds and nothing of this Kannel is kept
    for proc in reversed(k.procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()


def _wait_port(port: int, k: Kannel, folder: Path) -> None:
    """Until the port accepts (a start, not a timing: it fails only when Kannel died or never came)."""
    for _ in range(200):
        if any(p.poll() is not None for p in k.procs):
            break
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    stop(k)
    logs = "\n".join(f.read_text(errors="replace")[-2000:] for f in folder.glob("*.out"))
    pytest.fail(f"Kannel did not start (port {port}):\n{logs}")
