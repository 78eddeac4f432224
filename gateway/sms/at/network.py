"""The modem on the network: SIM, registration in every domain (2G/3G/LTE/5G), the radio, signal, time."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from gateway.core.errors import ModemError
from gateway.sms.at import grammar
from gateway.sms.at.parse import (
    ACCESS,
    COPS,
    COPS_ACT,
    CSQ,
    ON_NETWORK,
    REG_COMMANDS,
    REGISTRATION,
    lte_signal,
    match,
    network_time,
    registration,
)
from gateway.sms.at.storage import ATStorage
from gateway.sms.config import ModemConfig

log = logging.getLogger(__name__)
# SIM states that no retry will change: a person must act
SIM_STUCK = {"SIM PUK": "SIM bị khoá, cần mã PUK (SIM PUK required)", "SIM PIN2": "SIM cần PIN2 (SIM PIN2)",
             "SIM PUK2": "SIM cần PUK2 (SIM PUK2)", "PH-SIM PIN": "máy khoá SIM (PH-SIM PIN)"}  # fmt: skip
# GSM-only modules (SIMCom SIM800/SIM900 family, Quectel M26/M66/M95, Ai-Thinker A6, Wavecom
# Q24/Fastrack): nothing left for them to register on in Vietnam
TWO_G = re.compile(r"SIM[89]\d\d|SIM3[04]0|\bM(?:26|35|66|95)\b|MC60|\bA6\b|WAVECOM|MULTIBAND|FASTRACK", re.I)
DEAD_2G = ("Modem chỉ có 2G: mạng 2G ở Việt Nam đã tắt từ 15/9/2026, modem này không gửi được tin nào. "
           "Thay bằng modem 4G (LTE).")  # fmt: skip
UNTIL_3G = "Modem chỉ có 3G: dùng được đến khi tắt 3G (dự kiến 9/2028); nên thay bằng modem 4G (LTE) trước đó."


class ATNetwork(ATStorage):
    """What the modem knows about its SIM and the network, polled and told by URCs."""

    def __init__(
        self,
        config: ModemConfig,
        *,
        port: str | Callable[[], str] | None = None,
        emulated: bool = False,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, port=port, emulated=emulated, on_change=on_change)
        self._clock = clock  # the app's clock, which the network's time is compared with
        self._registered = asyncio.Event()
        self._domains: dict[str, int] = {}  # domain → its last stat
        self._asked: list[str] = []  # the domains this modem answers for (CREG, CGREG, CEREG, C5GREG)
        self._lte_signal = ""  # the command that gives RSRP/RSRQ here ("" = none found yet)

    def _forget(self) -> None:
        super()._forget()
        self._registered.clear()

    async def _sim(self) -> None:
        try:
            cpin = " ".join(await self._setup("AT+CPIN?"))
        except ModemError as e:
            if e.code in (10, 13, 15):
                self.info.sim = f"không có SIM hoặc SIM hỏng (+CME ERROR: {e.code})"
                raise ModemError(f"SIM: {self.info.sim}", code=e.code, transient=False) from None
            raise
        for state, words in SIM_STUCK.items():
            if state in cpin:
                self.info.sim = words
                raise ModemError(f"SIM: {words}", transient=False)
        if "SIM PIN" in cpin:
            if not self.config.pin:
                self.info.sim = "SIM cần mã PIN: đặt [modem] pin (SIM asks for a PIN)"
                raise ModemError(self.info.sim, transient=False)
            try:
                await self._setup(f"AT+CPIN={grammar.quoted('pin', self.config.pin, 'pin')}")
            except ModemError as e:
                self.info.sim = f"mã PIN sai: SIM sẽ khoá sau vài lần nữa; kiểm tra [modem] pin ({e.message})"
                raise ModemError(self.info.sim, code=e.code, transient=False) from None
        elif "READY" not in cpin:
            raise ModemError(f"SIM not ready: {cpin or 'no answer'}")
        self.info.sim = "READY"

    async def _network_setup(self) -> None:
        """Learn which registration domains this modem answers for, turn their URCs on, and what
        generation it is (an LTE module answers +CEREG; a 2G-only one is named as dead)."""
        self._domains = {}
        self._asked = []
        for domain, name in REG_COMMANDS.items():
            if await self._accepts(f"AT+{name}=1") or domain == "cs":
                self._asked.append(domain)  # +CREG stays asked even where its URC is refused
        self._lte_signal = ""
        if "eps" in self._asked or "5gs" in self._asked:
            generation, coverage = "4g", None
        elif TWO_G.search(f"{self.info.manufacturer} {self.info.model}"):
            generation, coverage = "2g", DEAD_2G
        else:
            generation, coverage = "3g", UNTIL_3G
        if coverage and coverage != self.info.coverage:
            log.warning("%s %s: %s", self.info.manufacturer, self.info.model, coverage)
        self.info.generation, self.info.coverage = generation, coverage

    async def _poll_signal(self) -> None:
        rssi = match(CSQ, await self._optional("AT+CSQ"))
        if rssi is not None:
            self.info.signal = None if int(rssi) == 99 else int(rssi)
        if self.info.generation == "4g" and self.info.signal is None:
            await self._poll_lte_signal()
        cops = await self._optional("AT+COPS?")
        if cops:
            self.info.operator = match(COPS, cops) or self.info.operator
            act = match(COPS_ACT, cops)
            self.info.access = None if act is None else ACCESS.get(int(act))
        for domain in self._asked or ["cs"]:
            for line in await self._optional(f"AT+{REG_COMMANDS[domain]}?"):
                if (found := registration(line)) is not None:
                    self._domains[found[0]] = found[1]
        self._set_registration()
        await self._poll_clock()

    async def _poll_lte_signal(self) -> None:
        """RSRP/RSRQ where +CSQ says 99 on LTE: AT+CESQ (TS 27.007), else the vendor's command."""
        order = [self._lte_signal] if self._lte_signal else ["AT+CESQ", "AT+QCSQ", "AT^HCSQ?"]
        for cmd in order:
            for line in await self._optional(cmd):
                rsrp, rsrq = lte_signal(line)
                if rsrp is not None:
                    self._lte_signal = cmd
                    self.info.rsrp, self.info.rsrq = rsrp, rsrq
                    return

    async def _poll_clock(self) -> None:
        """The network's time, when the modem has it (NITZ with AT+CTZU=1): what the Pi's clock,
        which has no battery, is checked against."""
        lines = await self._optional("AT+CCLK?")
        when = network_time(next((x for x in lines or [] if x.startswith("+CCLK")), ""))
        if when is not None:
            offset = when - self._clock()
            before = self.info.network_offset
            self.info.network_offset = offset
            if before is None or abs(offset - before) > 1.0:
                self.on_change()

    def _on_registration(self, line: str) -> bool:
        """A +CREG/+CGREG/+CEREG/+C5GREG URC: the domain's new state. False for any other line."""
        found = registration(line)
        if found is None:
            return False
        self._domains[found[0]] = found[1]
        self._set_registration()
        return True

    def _set_registration(self) -> None:
        """Sending waits only while no domain that carries SMS is on a network: an LTE-only network
        answers +CREG: 0,0 and +CEREG: 0,1, and SMS go over LTE. GPRS alone (+CGREG) carries no
        SMS unless AT+CGSMS says so: shown, never counted. No answer at all counts as on."""
        before = self.info.registration, dict(self.info.domains)
        domains = {d: REGISTRATION.get(s, f"stat {s}") for d, s in self._domains.items()}
        counted = [d for d in ("eps", "5gs", "cs") if d in self._domains]
        on = [d for d in counted if self._domains[d] in ON_NETWORK]
        if on or not counted:
            self.info.registration = domains[on[0]] if on else None
            self._registered.set()
        else:
            self.info.registration = domains[counted[0]]
            self._registered.clear()
        self.info.domains = domains
        if (self.info.registration, self.info.domains) != before:
            if counted and not on:
                log.warning("modem not on a network (%s): sending waits",
                            ", ".join(f"{d} {s}" for d, s in domains.items()))  # fmt: skip
            self.on_change()
