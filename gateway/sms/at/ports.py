"""Finding a modem: a short probe of one port, which of a module's USB ports is its AT port, and
what the modem found can still do in Vietnam (for `loa modems` and `loa doctor`)."""

from __future__ import annotations

import re
from pathlib import Path

from gateway.sms.at.line import ATLine
from gateway.sms.at.network import DEAD_2G, TWO_G, UNTIL_3G
from gateway.sms.at.parse import first
from gateway.sms.config import ModemConfig

# The AT port of modules whose first USB port is something else: (model pattern, USB interface
# number, the name it usually gets). Quectel EC25/EG25-G: 0 diagnostics, 1 GPS (NMEA), 2 AT, 3 the
# PPP modem (answers AT too, but is for data); SIMCom SIM7600: 0 diagnostics, 1 NMEA, 2 AT, 3 modem,
# 4 audio; Huawei E3372h in stick mode: 0 the modem port (AT), 1 diagnostics, 2 PCUI.
AT_PORTS = (
    (re.compile(r"quectel|\bE[CG]2[15]", re.I), 2, "ttyUSB2"),
    (re.compile(r"SIM7[56]\d\d|A76\d\d", re.I), 2, "ttyUSB2"),
    (re.compile(r"E3372", re.I), 0, "ttyUSB0"),
)
SYS_TTY = Path("/sys/class/tty")


async def probe(port: str, baudrate: int = 115200) -> dict[str, str | None]:
    """A short exchange on one serial port: does a modem answer AT there, which one is it, which
    generation (an LTE module answers AT+CEREG?) and what that means in Vietnam."""
    modem = ATLine(ModemConfig(port=port, baudrate=baudrate, command_timeout=2.0))
    try:
        await modem._open()
        assert modem._writer is not None
        modem._writer.write(b"\x1b\r")
        await modem._drain()
        await modem._align()
        await modem._optional("ATE0")
        found: dict[str, str | None] = {
            "manufacturer": first(await modem._optional("AT+CGMI")),
            "model": first(await modem._optional("AT+CGMM")),
        }
        found["sim"] = (first(await modem._optional("AT+CPIN?")) or "?").replace("+CPIN:", "").strip()
        name = f"{found['manufacturer']} {found['model']}"
        if any(x.startswith("+CEREG:") for x in await modem._optional("AT+CEREG?")):
            found["generation"], found["coverage"] = "4g", None
        elif TWO_G.search(name):
            found["generation"], found["coverage"] = "2g", DEAD_2G
        else:
            found["generation"], found["coverage"] = "3g", UNTIL_3G
        return found
    finally:
        await modem._close_port()


def usb_interface(port: str) -> int | None:
    """The USB interface number a serial port belongs to (sysfs), or None (not USB, not Linux)."""
    name = Path(port).resolve().name
    try:
        return int((SYS_TTY / name / "device" / ".." / "bInterfaceNumber").read_text().strip(), 16)
    except (OSError, ValueError):
        return None


def at_port(manufacturer: str | None, model: str | None) -> tuple[int, str] | None:
    """(interface number, usual name) of the AT port of this module, when it is not simply the first."""
    name = f"{manufacturer or ''} {model or ''}"
    return next(((n, usual) for pattern, n, usual in AT_PORTS if pattern.search(name)), None)


def pick(found: list[tuple[str, dict[str, str | None]]], interface: dict[str, int | None] | None = None) -> str | None:
    """The port to put in config.toml among those that answered AT: the module's own AT port where
    it is known (an EC25's ttyUSB2, not its PPP port ttyUSB3), else the first that answered."""
    if not found:
        return None
    interface = interface if interface is not None else {port: usb_interface(port) for port, _ in found}
    for port, info in found:
        known = at_port(info.get("manufacturer"), info.get("model"))
        if known is None:
            continue
        number, usual = known
        if interface.get(port) == number or (interface.get(port) is None and Path(port).resolve().name == usual):
            return port
    return found[0][0]
