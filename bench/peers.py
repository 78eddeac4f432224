"""Loa beside Gammu SMSD (Debian's gammu-smsd) on the same emulated modem and the same workload."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

import aiohttp

SUBMIT = 0.24  # seconds of modem work per AT+CMGS: the modem's maximum is 250 SMS a minute
TICK = os.sysconf("SC_CLK_TCK")
LONG = (
    "Kính gửi Ủy ban nhân dân xã: gia đình tôi ở thôn Nà Phìn muốn hỏi thủ tục đăng ký khai sinh cho cháu "
    "mới sinh tháng trước, cần mang những giấy tờ gì, lệ phí bao nhiêu, làm ở đâu và mất mấy ngày thì có "
    "giấy khai sinh? Nhà tôi ở xa, đường lên xã đang sạt lở nên muốn biết trước để đi một lần cho đủ. Cảm ơn."
)  # 300 characters: five UCS-2 parts


@dataclass(frozen=True)
class Workload:
    outbound: list[tuple[str, str]]  # (number, text): half Vietnamese with diacritics, half without
    inbound: list[tuple[str, str]]  # (sender, text), arriving while the outbound is being sent

    @staticmethod
    def make(n_out: int, n_in: int) -> Workload:
        out = []
        for i in range(n_out):
            text = f"Thôn Nà Phìn họp lúc 19h tối nay, số {i}" if i % 2 else f"Lich tiem chung sang thu Hai, so {i}"
            out.append((f"+8491{i:07d}", text))
        inbound = [(f"+8498{i:07d}", f"Câu hỏi số {i}: thủ tục khai sinh ở đâu ạ?") for i in range(n_in)]
        return Workload(out, [*inbound, ("+84987654321", LONG)])


@dataclass
class Result:
    peer: str
    utilisation: float  # messages per minute ÷ the modem's maximum
    per_minute: float
    cpu_ms_per_message: float  # the daemon's own CPU (sending, receiving, its API) per message sent
    queue_cpu_ms_per_message: float  # the separate tool that queues a message (gammu-smsd-inject)
    inbound_median_s: float
    inbound_p95_s: float
    outbound_lost: int
    outbound_duplicated: int
    inbound_lost: int
    inbound_duplicated: int
    vietnamese_exact: bool


class Emulator:
    """`loa emulator` in its own process: the modem both peers talk to, and the phones around it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sent: list[tuple[float, str, str]] = []  # (when, number, text) as the network got them
        self.changed = asyncio.Event()

    async def start(self) -> str:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "emulator", "--submit-delay", str(SUBMIT),
            "--link-dir", str(self.folder),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert self.proc.stdout is not None
        first = (await self.proc.stdout.readline()).decode()
        path = re.search(r"at: (\S+)", first)
        assert path is not None, first
        self.reader = asyncio.create_task(self._read())
        return path.group(1)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            m = re.match(r"← to (\S+) \(\d+ part\(s\)\): (.*)", raw.decode().rstrip("\n"))
            if m:
                self.sent.append((time.perf_counter(), m.group(1), m.group(2)))
                self.changed.set()

    def deliver(self, sender: str, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"sms {sender} {text}\n".encode())

    async def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"quit\n")
        await self.proc.stdin.drain()
        try:
            async with asyncio.timeout(5):
                await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.reader.cancel()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Peer(Protocol):
    """One gateway under test: started against the modem's pty, fed the outbound, asked for the inbound."""

    name: str

    async def start(self, port: str, folder: Path) -> int: ...  # the daemon's pid

    async def queue(self, messages: list[tuple[str, str]]) -> None: ...

    def received(self) -> list[str]: ...  # every inbound text it has stored so far, whole

    async def stop(self) -> None: ...


class Gammu:
    def __init__(self, name: str, tuned: bool) -> None:
        self.name = name
        self.tuned = tuned

    async def start(self, port: str, folder: Path) -> int:
        self.folder = folder
        for box in ("inbox", "outbox", "sent", "error"):
            (folder / box).mkdir()
        speed = "LoopSleep = 0\nCommTimeout = 0\nSendTimeout = 5\nReceiveFrequency = 1\n" if self.tuned else ""
        self.rc = folder / "smsdrc"
        self.rc.write_text(
            f"[gammu]\ndevice = {port}\nconnection = at115200\n\n"
            f"[smsd]\nservice = files\ninboxpath = {folder}/inbox/\noutboxpath = {folder}/outbox/\n"
            f"sentsmspath = {folder}/sent/\nerrorsmspath = {folder}/error/\ninboxformat = unicode\n"
            f"logfile = {folder}/smsd.log\n{speed}",
            encoding="utf-8",
        )
        self.proc = await asyncio.create_subprocess_exec(
            "gammu-smsd", "-c", str(self.rc), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
        )
        return self.proc.pid

    async def queue(self, messages: list[tuple[str, str]]) -> None:
        for number, text in messages:
            # -unicode for Vietnamese: without it Gammu sends its own 7-bit approximation
            unicode = [] if text.isascii() else ["-unicode"]
            proc = await asyncio.create_subprocess_exec(
                "gammu-smsd-inject", "-c", str(self.rc), "TEXT", number, *unicode, "-text", text,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            assert await proc.wait() == 0, f"gammu-smsd-inject failed for {text!r}"

    def received(self) -> list[str]:
        # IN<date>_<time>_<serial>_<sender>_<part>.txt; the parts of one SMS share all but <part>
        parts: dict[str, list[tuple[int, str]]] = {}
        for path in (self.folder / "inbox").glob("IN*.txt"):
            head, _, part = path.stem.rpartition("_")
            try:
                # UTF-16 with a byte-order mark; the text ends at the first NUL (Gammu's files backend
                # writes its whole buffer: a short last part carries leftovers of the one before)
                text = path.read_bytes().decode("utf-16").split("\x00")[0]
            except UnicodeDecodeError:
                continue  # being written
            parts.setdefault(head, []).append((int(part), text))
        return ["".join(t for _, t in sorted(p)) for p in parts.values()]

    async def stop(self) -> None:
        self.proc.terminate()
        await self.proc.wait()


class Loa:
    name = "Loa"

    async def start(self, port: str, folder: Path) -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            http = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{http}"
        self.db = folder / "loa.sqlite3"
        config = folder / "loa.toml"
        # automatic replies off: both peers then do the same modem work (Gammu answers nobody)
        config.write_text(
            f'[http]\nport = {http}\n[database]\npath = "{self.db}"\n[modem]\nport = "{port}"\n'
            f'[api]\ntokens = ["bench-token-0000000000"]\n[residents]\ndaily_reply_cap = 0\n'
            f'[audio]\ncache_dir = "{folder}/audio"\n[player]\nkind = "recording"\n',
            encoding="utf-8",
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "run", "--config", str(config),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        self.session = aiohttp.ClientSession(headers={"Authorization": "Bearer bench-token-0000000000"})
        async with asyncio.timeout(60):
            while True:
                try:
                    async with self.session.get(f"{self.url}/healthz") as resp:
                        if (await resp.json())["modem"]["connected"]:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        return self.proc.pid

    async def queue(self, messages: list[tuple[str, str]]) -> None:
        for number, text in messages:
            async with self.session.post(f"{self.url}/api/v1/messages", json={"to": [number], "text": text}) as r:
                assert r.status == 202, await r.text()

    def received(self) -> list[str]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            return [row[0] for row in db.execute("select text from inbox where partial=0")]

    async def stop(self) -> None:
        await self.session.close()
        self.proc.terminate()
        await self.proc.wait()


async def _until(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def measure(peer: Peer, work: Workload, timeout: float) -> Result:
    with tempfile.TemporaryDirectory() as d:
        emulator = Emulator(Path(d))
        port = await emulator.start()
        pid = await peer.start(port, Path(d))
        cpu0, children0 = cpu_seconds(pid), children_cpu()
        await peer.queue(work.outbound)
        await _until(lambda: bool(emulator.sent), timeout)
        # the inbound arrives while the outbound is being sent, one every two modem submits
        arrived: dict[str, float] = {}
        seen: dict[str, float] = {}

        def look() -> bool:
            for text in peer.received():
                if text in arrived and text not in seen:
                    seen[text] = time.perf_counter()
            return len(seen) == len(work.inbound)

        for sender, text in work.inbound:
            arrived[text] = time.perf_counter()
            emulator.deliver(sender, text)
            pause = time.perf_counter() + 2 * SUBMIT
            while time.perf_counter() < pause:
                look()
                await asyncio.sleep(0.01)
        await _until(lambda: look() and len(emulator.sent) >= len(work.outbound), timeout)
        await asyncio.sleep(1.0)  # anything sent twice shows up now
        cpu, queue_cpu = cpu_seconds(pid) - cpu0, children_cpu() - children0
        await peer.stop()
        stored = peer.received()
        await emulator.close()
    sent = emulator.sent
    expected = Counter(text for _, text in work.outbound)
    got = Counter(text for _, number, text in sent if text in expected)
    elapsed = sent[-1][0] - (sent[0][0] - SUBMIT)
    n = len(sent)
    latencies = sorted(seen[t] - arrived[t] for t in seen)
    inbound = Counter(stored)
    return Result(
        peer=peer.name,
        utilisation=round(n / elapsed * SUBMIT, 3),
        per_minute=round(n / elapsed * 60, 1),
        cpu_ms_per_message=round(cpu / max(1, n) * 1000, 2),
        queue_cpu_ms_per_message=round(queue_cpu / max(1, n) * 1000, 2),
        inbound_median_s=round(statistics.median(latencies), 3) if latencies else float("nan"),
        inbound_p95_s=round(latencies[int(0.95 * (len(latencies) - 1))], 3) if latencies else float("nan"),
        outbound_lost=sum((expected - got).values()),
        outbound_duplicated=sum((got - expected).values()),
        inbound_lost=sum(1 for _, t in work.inbound if inbound[t] == 0),
        inbound_duplicated=sum(c - 1 for c in inbound.values() if c > 1),
        vietnamese_exact=got == expected and all(inbound[t] == 1 for _, t in work.inbound),
    )


def table(results: list[Result]) -> str:
    head = (
        "| peer | SMS/min ÷ modem max | CPU per SMS: daemon + queueing tool | inbound median | inbound p95 "
        "| lost (out/in) | duplicated (out/in) | Vietnamese exact |\n|---|---|---|---|---|---|---|---|\n"
    )
    return head + "".join(
        f"| {r.peer} | {r.per_minute:.0f} ÷ {60 / SUBMIT:.0f} = {r.utilisation:.2f} "
        f"| {r.cpu_ms_per_message:.2f} + {r.queue_cpu_ms_per_message:.2f} ms "
        f"| {r.inbound_median_s:.2f} s | {r.inbound_p95_s:.2f} s | {r.outbound_lost}/{r.inbound_lost} "
        f"| {r.outbound_duplicated}/{r.inbound_duplicated} | {'yes' if r.vietnamese_exact else 'no'} |\n"
        for r in results
    )


async def run(quick: bool = False) -> list[Result]:
    """Every peer on the same workload; Gammu rows only where Debian's gammu-smsd is installed."""
    work = Workload.make(10, 5) if quick else Workload.make(100, 50)
    peers: list[Peer] = [Loa()]
    if shutil.which("gammu-smsd"):
        peers += [Gammu("Gammu SMSD 1.42, defaults", tuned=False), Gammu("Gammu SMSD 1.42, tuned", tuned=True)]
    else:
        print("gammu-smsd is not installed (apt-get install gammu-smsd): Loa's row only", file=sys.stderr)
    return [await measure(peer, work, timeout=120 if quick else 600) for peer in peers]


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="10 outbound, 5 inbound: a check that it runs")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    results = await run(args.quick)
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in results], indent=2), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
