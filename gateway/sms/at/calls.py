"""Calls to the commune's number: each is hung up at once (a missed call, "gọi nháy", free for the
caller) and the caller's number handed to `on_call`, whatever the modem was doing."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.at.network import ATNetwork
from gateway.sms.config import ModemConfig
from gateway.sms.transport import CallHandler

log = logging.getLogger(__name__)
CLIP = re.compile(r'^\+CLIP:\s*"([^"]*)"')
CLIP_WAIT = 1.5  # seconds a RING waits for its +CLIP before the call is hung up with no number
SAME_CALL = 20.0  # the same number again within this many seconds is the same call ringing on


class ATCalls(ATNetwork):
    """RING / +CLIP handling: hang up (AT+CHUP, else ATH), then tell `on_call` who it was."""

    def __init__(
        self,
        config: ModemConfig,
        *,
        port: str | Callable[[], str] | None = None,
        emulated: bool = False,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(config, port=port, emulated=emulated, on_change=on_change, clock=clock)
        self.on_call: CallHandler | None = None  # see transport.TakesCalls
        self._hangup = "AT+CHUP"  # TS 27.007; ATH where a firmware refuses it
        self._rang_at = 0.0  # loop time of the last RING not yet matched by a +CLIP
        self._told: dict[str, float] = {}  # number → loop time it was last handed to on_call

    async def _calls_setup(self) -> None:
        """Caller ids on (+CLIP after each RING); a modem without voice simply never rings."""
        if not await self._accepts("AT+CLIP=1"):
            log.info("no caller id (AT+CLIP) on this modem: a call is hung up without knowing who rang")

    def _on_call_line(self, line: str) -> bool:
        """RING, +CRING or +CLIP: the call is hung up; False for any other line."""
        loop = asyncio.get_running_loop()
        if line == "RING" or line.startswith("+CRING:"):
            if not self._rang_at:
                self._rang_at = loop.time()
                self._spawn(self._ring_without_clip(self._rang_at), "modem-ring")
            return True
        m = CLIP.match(line)
        if m is None:
            return False
        self._rang_at = 0.0
        self._spawn(self._answer(m.group(1)), "modem-call")
        return True

    async def _ring_without_clip(self, rang_at: float) -> None:
        await asyncio.sleep(CLIP_WAIT)
        if self._rang_at == rang_at:  # no +CLIP came: caller id off or withheld
            self._rang_at = 0.0
            await self._answer("")

    async def _answer(self, number: str) -> None:
        """Hang up at once (the caller pays nothing), then hand the number over once per call."""
        try:
            await self._hang_up()
        except ModemError as e:  # unavailable, or neither hang-up known: the caller gives up alone
            log.warning("call from %s not hung up: %s", number or "?", e)
        now = asyncio.get_running_loop().time()
        if not number or now - self._told.get(number, -SAME_CALL) < SAME_CALL:
            log.info("call from %s hung up", number or "a hidden number")
            return
        self._told = {n: t for n, t in self._told.items() if now - t < SAME_CALL} | {number: now}
        log.info("missed call from %s: hung up, handed over", number)
        if self.on_call is not None:
            try:
                await self.on_call(number)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("on_call failed for %s", number)

    async def _hang_up(self) -> None:
        try:
            await self.command(self._hangup)
        except ModemUnavailable:
            raise
        except ModemError:
            if self._hangup == "ATH":
                raise
            self._hangup = "ATH"
            await self.command("ATH")
