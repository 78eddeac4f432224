"""SMS stored on the modem: its memories, reading a notified message, sweeping every memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable

from gateway.core.errors import ModemError, ModemUnavailable
from gateway.sms.at import grammar
from gateway.sms.at.line import ATLine
from gateway.sms.at.parse import CODE, stored_pdu
from gateway.sms.config import ModemConfig
from gateway.sms.transport import Receiver

log = logging.getLogger(__name__)
GATHER = 2.0  # seconds stored reports gather before they are read together
BATCH = 20  # or this many, whichever comes first
READS = 3  # an SMS whose PDU line is not readable is read again this often before it is set aside


class ATStorage(ATLine):
    """The SMS memories of a modem: select them, read and delete what they hold."""

    def __init__(
        self,
        config: ModemConfig,
        *,
        port: str | Callable[[], str] | None = None,
        emulated: bool = False,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(config, port=port, emulated=emulated, on_change=on_change)
        self._receiver: Receiver | None = None
        self._sweep_now = asyncio.Event()
        self._ready = asyncio.Event()  # set up (PDU mode, memories): notifications can be acted on
        self._usual = ""  # the memory read and deleted from between notifications ("" = none known)
        self._mem1 = ""  # the read/delete memory selected now
        self._read_memories: list[str] = []  # every memory a sweep reads
        self._batches: dict[str, list[int]] = {}  # memory → announced indexes waiting to be read
        self._batch_full = asyncio.Event()

    def _forget(self) -> None:
        self._mem1 = ""

    async def _memories(self) -> None:
        """Select the SMS memories explicitly and learn every one a sweep must read."""
        groups = [re.findall(r'"(\w+)"', g) for g in re.findall(r"\(([^()]*)\)", " ".join(
            await self._optional("AT+CPMS=?")))]  # fmt: skip
        groups = [g for g in groups if g]
        if not groups:
            self._usual = self._mem1 = ""
            self._read_memories = []
            self.info.memories = {}
            self._cannot("chọn bộ nhớ tin nhắn (AT+CPMS): chỉ đọc bộ nhớ đang chọn")
            return
        readable = groups[0]
        self._usual = "SM" if "SM" in readable else readable[0]
        both = {"SM", "ME"} <= set(readable)
        # MT is ME and SM together; BM holds cell broadcasts, not SMS
        self._read_memories = [m for m in readable if m != "BM" and not (m == "MT" and both)]
        for n in (3, 2, 1):
            picks = [self._usual if self._usual in g else g[0] for g in (groups + [readable] * 3)[:n]]
            try:
                await self._setup("AT+CPMS=" + ",".join(grammar.quoted("memory", m, "memory") for m in picks))
                break
            except ModemError:
                continue
        self._mem1 = self._usual

    async def _select(self, memory: str) -> list[str]:
        """With the lock held: make `memory` the one AT+CMGR/CMGL/CMGD act on."""
        if not self._usual or memory == self._mem1:
            return []
        lines = await self._exchange(
            f"AT+CPMS={grammar.quoted('memory', memory, 'memory')}", self.config.command_timeout
        )
        self._mem1 = memory
        return lines

    def sweep_soon(self) -> None:
        """Read every memory now (the store is writable again: SMS it refused wait on the SIM)."""
        self._sweep_now.set()

    def _heard(self, line: str) -> None:
        """The SMS memory is full: read and empty it now, before the network gives up on it."""
        if not self._sweep_now.is_set():
            log.warning("modem SMS memory full (%s): reading and emptying it now", line)
        self._sweep_now.set()

    async def _deliver(self, pdu: str) -> None:
        if self._receiver is None:
            raise RuntimeError("the modem was not started with a receiver")
        await self._receiver.handle_pdu(pdu)

    async def _on_stored(self, memory: str, index: int) -> None:
        """A +CMTI/+CDSI: read it now from the usual memory; from another (reports in SR) gather
        the indexes and read them in one go, the memory selected once for the batch, not per report."""
        if not self._usual or memory == self._usual:
            await self._read_stored(memory, index)
            return
        batch = self._batches.setdefault(memory, [])
        batch.append(index)
        if len(batch) == 1:
            self._batch_full.clear()
            self._spawn(self._read_batch(memory), f"modem-batch-{memory}")
        elif len(batch) >= BATCH:
            self._batch_full.set()

    async def _read_batch(self, memory: str) -> None:
        try:
            # reports are not urgent: let them gather (a batch of sends brings one per part) so the
            # memory is selected once for many, not twice for each
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(GATHER):
                    await self._batch_full.wait()
            async with self._lock:
                try:
                    while indexes := self._batches.pop(memory, []):
                        if len(indexes) == 1:
                            await self._read_one(memory, indexes[0])
                        else:
                            await self._read_listed(memory)
                finally:
                    if self._mem1 != self._usual and not self._lost.is_set():
                        await self._select(self._usual)
        except asyncio.CancelledError:
            self._batches.pop(memory, None)
            raise
        except ModemUnavailable:
            self._batches.pop(memory, None)
            log.info("stored reports left for the next sweep: modem unavailable")
        except Exception:
            self._batches.pop(memory, None)
            log.exception("reading stored reports from %s failed; the sweep reads them", memory)

    async def _read_listed(self, memory: str) -> None:
        """With the lock held: everything `memory` holds, listed by one AT+CMGL, persisted, deleted
        one by one (never "delete all": one stored meanwhile would go unread)."""
        await self._select(memory)
        lines = await self._exchange("AT+CMGL=4", self.config.command_timeout)
        for i, line in enumerate(lines):
            if not line.startswith("+CMGL:") or not (m := CODE.search(line)):
                continue
            index = int(m.group(1))
            pdu = stored_pdu(["+CMGR: " + line.split(",", 1)[-1], *lines[i + 1 : i + 2]])
            if pdu is None:
                await self._read_one(memory, index)  # read again on its own, set aside if it stays unreadable
                continue
            await self._deliver(pdu)
            await self._exchange(f"AT+CMGD={index}", self.config.command_timeout)

    async def _read_stored(self, memory: str, index: int) -> None:
        # Read, persist and delete under one hold of the lock: indexes are reused at once, so a
        # delete that runs after another reader's would remove a new, unread message. AT+CMGR
        # acts on the selected memory: select the one the notification names, then the usual.
        async with self._lock:
            try:
                await self._read_one(memory, index)
            finally:
                if self._mem1 != self._usual and not self._lost.is_set():
                    await self._select(self._usual)

    async def _read_one(self, memory: str, index: int) -> None:
        """With the lock held: read, persist, delete one stored message or report."""
        await self._select(memory)
        for _ in range(READS):
            try:
                lines = await self._exchange(f"AT+CMGR={index}", self.config.command_timeout)
            except ModemError as e:
                if e.code == 321:  # invalid index: nothing stored there (read already)
                    log.info("nothing at %s %d", memory, index)
                    return
                raise
            pdu = stored_pdu(lines)
            if pdu is not None:
                break
        head = next((i for i, x in enumerate(lines) if x.startswith("+CMGR:")), None)
        if pdu is None:
            if head is None or head == len(lines) - 1:
                return
            # the same unreadable entry READS times: kept aside as it is, then deleted
            pdu = max(lines[head + 1 :], key=len)
            log.warning("unreadable SMS at %s %d (%r): kept in inbox_rejects", memory, index, pdu[:40])
        await self._deliver(pdu)
        await self._exchange(f"AT+CMGD={index}", self.config.command_timeout)

    async def _sweep(self) -> None:
        """Read whatever every memory holds (missed notifications, SMS from before a restart, a
        full memory), and note how full each is."""
        found = 0
        for memory in self._read_memories or [""]:
            async with self._lock:
                try:
                    if memory:
                        await self._select(memory)
                    lines = await self._exchange("AT+CMGL=4", self.config.command_timeout)
                except ModemUnavailable:
                    raise
                except ModemError as e:
                    if not memory:
                        self._cannot(f"liệt kê tin đã lưu (AT+CMGL → {e.message})")
                    continue
                finally:
                    if memory and self._mem1 != self._usual and not self._lost.is_set():
                        await self._select(self._usual)
            indexes = [int(m.group(1)) for x in lines if x.startswith("+CMGL:") and (m := CODE.search(x))]
            for index in indexes:
                await self._read_stored(memory or self._usual, index)
            found += len(indexes)
        if found:
            log.info("sweep found %d stored message(s)", found)
        await self._memory_use()

    async def _memory_use(self) -> None:
        if not self._read_memories:
            return
        use = {}
        for memory in self._read_memories:
            async with self._lock:
                try:
                    lines = await self._exchange(
                        f"AT+CPMS={grammar.quoted('memory', memory, 'memory')}", self.config.command_timeout
                    )
                    self._mem1 = memory
                    m = re.search(r"(\d+)\s*,\s*(\d+)", " ".join(lines))
                    if m:
                        use[memory] = f"{m.group(1)}/{m.group(2)}"
                except ModemUnavailable:
                    raise
                except ModemError:
                    continue
                finally:
                    if self._mem1 != self._usual and not self._lost.is_set():
                        await self._select(self._usual)
        if use != self.info.memories:
            self.info.memories = use
            self.on_change()
