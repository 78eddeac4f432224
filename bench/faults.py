"""Fault suite: SIGKILL at random moments of a batch with inbound SMS arriving, SIGTERM mid-send, a full
disk, a modem that stalls after a PDU, a modem that restarts by itself at every point of an exchange;
each reports lost, duplicated and the time to recover."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench import Figure
from gateway.testing import EmulatedModem

TOKEN = "bench-token-0000000000"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _config(tmp: Path, port: str, db: Path | None = None) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(
        f'[http]\nport = 0\n[database]\npath = "{db or tmp / "loa.sqlite3"}"\nmin_free_mb = 0\n'
        f'[modem]\nport = "{port}"\nreconnect_min = 0.05\ncommand_timeout = 2.0\n'
        f'[api]\ntokens = ["{TOKEN}"]\n',
        encoding="utf-8",
    )
    return cfg


async def _start(cfg: Path, log: Path) -> tuple[asyncio.subprocess.Process, str]:
    with log.open("ab") as stderr:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "run", "--config", str(cfg),
            stdout=asyncio.subprocess.PIPE, stderr=stderr,
        )  # fmt: skip
    assert proc.stdout is not None
    async with asyncio.timeout(30):
        while line := (await proc.stdout.readline()).decode():
            if m := re.search(r"serving on (http://\S+)", line):
                return proc, m.group(1)
    raise RuntimeError(f"gateway did not start: {log.read_text()[-1500:]}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(60):
            await proc.wait()


RESIDENT = "+84961234567"  # asks questions all along; the answers to them are not the batch


def _outbound(emu: EmulatedModem) -> Counter[str]:
    return Counter(m.number for m in emu.messages() if m.number != RESIDENT)


async def _inbox(url: str) -> Counter[str]:
    async with aiohttp.ClientSession() as http:
        body = await (await http.get(f"{url}/api/v1/inbox?limit=500", headers=AUTH)).json()
    return Counter(m["text"] for m in body["messages"])


async def kills(kills: int, batch: int, rng: random.Random) -> dict[str, Any]:
    """One batch of `batch` messages (one per number), inbound SMS arriving all along, the gateway
    killed `kills` times at random moments; then everything must be there exactly once."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        emu = EmulatedModem("huawei", submit_delay=0.02, link_dir=tmp)
        await emu.start()
        cfg, log = _config(tmp, emu.path), tmp / "gateway.log"
        numbers = [f"+8491{i:07d}" for i in range(batch)]
        inbound: list[str] = []
        recoveries: list[float] = []
        proc, url = await _start(cfg, log)
        async with aiohttp.ClientSession() as http:
            for start in range(0, batch, 100):
                body = {"to": numbers[start : start + 100], "text": "Lịch tiêm chủng tháng 12 ở trạm y tế xã"}
                resp = await http.post(f"{url}/api/v1/messages", json=body, headers=AUTH)
                assert resp.status == 202, await resp.text()

        async def residents() -> None:
            while True:
                text = f"Hỏi số {len(inbound)}: làm khai sinh cần gì?"
                inbound.append(text)
                emu.deliver(RESIDENT, text)
                await asyncio.sleep(rng.uniform(0.02, 0.2))

        talking = asyncio.create_task(residents())
        try:
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.05, 0.6))
                os.kill(proc.pid, signal.SIGKILL)
                await proc.wait()
                before = len(emu.sent)
                t0 = time.monotonic()
                proc, url = await _start(cfg, log)
                if len(_outbound(emu)) < batch:
                    while len(emu.sent) == before:  # recovered: the first part sent after the restart
                        await asyncio.sleep(0.005)
                recoveries.append(time.monotonic() - t0)
        finally:
            talking.cancel()
        deadline = time.monotonic() + 300
        while (len(_outbound(emu)) < batch or sum((await _inbox(url)).values()) < len(inbound)) and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
        out, got = _outbound(emu), await _inbox(url)
        await _stop(proc)
        await emu.close()
    return {
        "kills": kills,
        "outbound": batch,
        "outbound_lost": batch - len(out),
        "outbound_repeated": sum(c - 1 for c in out.values()),
        "inbound": len(inbound),
        "inbound_lost": len(set(inbound) - set(got)),
        "inbound_duplicated": sum(c - 1 for c in got.values()),
        "recover_median_s": round(sorted(recoveries)[len(recoveries) // 2], 2) if recoveries else None,
        "recover_max_s": round(max(recoveries), 2) if recoveries else None,
    }


async def sigterm(trials: int) -> dict[str, Any]:
    """SIGTERM while a part is with the network: it is answered and recorded, never sent again."""
    repeated = 0
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        emu = EmulatedModem("huawei", submit_delay=0.3, link_dir=tmp)
        await emu.start()
        cfg, log = _config(tmp, emu.path), tmp / "gateway.log"
        numbers = [f"+8492{i:07d}" for i in range(trials * 2)]
        proc, url = await _start(cfg, log)
        async with aiohttp.ClientSession() as http:
            resp = await http.post(f"{url}/api/v1/messages", json={"to": numbers, "text": "Họp thôn 19h"}, headers=AUTH)
            assert resp.status == 202
        for _ in range(trials):
            emu.submitting.clear()
            await emu.submitting.wait()
            await _stop(proc)
            proc, url = await _start(cfg, log)
        while len(_outbound(emu)) < len(numbers):
            await asyncio.sleep(0.1)
        repeated = sum(c - 1 for c in _outbound(emu).values())
        await _stop(proc)
        await emu.close()
    return {"sigterms": trials, "repeated": repeated}


async def full_disk() -> dict[str, Any]:
    """The disk fills mid-batch (an 8 MB tmpfs), then space comes back."""
    if os.geteuid() != 0:
        return {"skipped": "needs root to mount a small tmpfs"}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        disk = tmp / "disk"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], check=True)
        try:
            emu = EmulatedModem("huawei", submit_delay=0.02, link_dir=tmp)
            await emu.start()
            cfg, log = _config(tmp, emu.path, disk / "loa.sqlite3"), tmp / "gateway.log"
            numbers = [f"+8493{i:07d}" for i in range(200)]
            proc, url = await _start(cfg, log)
            async with aiohttp.ClientSession() as http:
                resp = await http.post(f"{url}/api/v1/messages", json={"to": numbers, "text": "Nộp thuế"}, headers=AUTH)
                assert resp.status == 202
                await emu.wait_sent(20)
                filler = disk / "filler"
                try:
                    with open(filler, "wb") as f:
                        while True:
                            f.write(b"\0" * 4096)
                            f.flush()
                except OSError as e:
                    assert e.errno == errno.ENOSPC
                while (await (await http.get(f"{url}/healthz")).json())["store"]["writable"]:
                    await asyncio.sleep(0.05)
                refused = (await http.post(f"{url}/api/v1/messages", json={"to": numbers[0], "text": "x"},
                                           headers=AUTH)).status  # fmt: skip
                during = len(emu.sent)
                await asyncio.sleep(2.0)
                sent_while_full = len(emu.sent) - during
                filler.unlink()
                t0 = time.monotonic()
                while len(_outbound(emu)) < len(numbers):
                    await asyncio.sleep(0.05)
                resumed = time.monotonic() - t0
            out = _outbound(emu)
            await _stop(proc)
            await emu.close()
        finally:
            subprocess.run(["umount", "-l", str(disk)], check=False)
    return {
        "api_while_full": refused,
        "parts_sent_while_full": sent_while_full,
        "lost": len(numbers) - len(out),
        "repeated": sum(c - 1 for c in out.values()),
        "all_sent_after_space_back_s": round(resumed, 2),
    }


async def stalled_modem() -> dict[str, Any]:
    """The modem takes a PDU and never answers: how long until the gateway knows."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        emu = EmulatedModem("huawei", submit_delay=0.05, link_dir=tmp)
        await emu.start()
        cfg, log = _config(tmp, emu.path), tmp / "gateway.log"
        proc, url = await _start(cfg, log)
        async with aiohttp.ClientSession() as http:
            numbers = [f"+8494{i:07d}" for i in range(10)]
            await http.post(f"{url}/api/v1/messages", json={"to": numbers, "text": "Thông báo"}, headers=AUTH)
            await emu.wait_sent(10)
            emu.faults.hang_numbers.add("+84987000222")
            emu.submitting.clear()
            await http.post(f"{url}/api/v1/messages", json={"to": "0987000222", "text": "Treo"}, headers=AUTH)
            await emu.submitting.wait()
            t0 = time.monotonic()
            degraded = None
            while True:
                body = await (await http.get(f"{url}/healthz")).json()
                if degraded is None and body["status"] == "degraded":
                    degraded = time.monotonic() - t0
                if not body["modem"]["connected"]:
                    break
                await asyncio.sleep(0.01)
            noticed = time.monotonic() - t0
        await _stop(proc)
        await emu.close()
    return {"healthz_degraded_after_s": round(degraded or noticed, 2), "modem_reset_after_s": round(noticed, 2)}


# the commands of a send, of a receive and a signal poll; the restart before, inside or after each
REBOOT_POINTS = [
    (c, w) for c in ("AT+CMGS", "PDU", "AT+CMGR", "AT+CMGD", "AT+CSQ") for w in ("before", "inside", "after")
]


async def reboots(silent: float) -> dict[str, Any]:
    """The stick restarts by itself (boot lines, echo on, silent `silent` s) at every point of a send
    and a receive in turn, during a batch with residents texting: lost, repeated, time to set up again."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        emu = EmulatedModem("sim800", submit_delay=0.02, link_dir=tmp)
        await emu.start()
        cfg, log = _config(tmp, emu.path), tmp / "gateway.log"
        cfg.write_text(cfg.read_text().replace("reconnect_min", "poll_interval = 2.0\nreconnect_min"))  # AT+CSQ
        proc, url = await _start(cfg, log)
        numbers = [f"+8495{i:07d}" for i in range(10 * len(REBOOT_POINTS))]
        inbound: list[str] = []
        back: list[float] = []
        async with aiohttp.ClientSession() as http:

            async def connected() -> bool:
                return bool((await (await http.get(f"{url}/healthz")).json())["modem"]["connected"])

            for i, (command, where) in enumerate(REBOOT_POINTS):
                emu.faults.reboot_at, emu.faults.reboot_where, emu.faults.reboot_silent = command, where, silent
                text = f"Hỏi {i}: làm khai sinh cần gì?"
                inbound.append(text)
                emu.deliver(RESIDENT, text)
                chunk = numbers[i * 10 : (i + 1) * 10]
                await http.post(f"{url}/api/v1/messages", json={"to": chunk, "text": "Họp thôn 20h"}, headers=AUTH)
                t0 = time.monotonic()
                while (emu.faults.reboot_at or not await connected()) and time.monotonic() - t0 < 60:
                    await asyncio.sleep(0.02)
                back.append(time.monotonic() - t0)
            deadline = time.monotonic() + 120
            while (len(_outbound(emu)) < len(numbers) or sum((await _inbox(url)).values()) < len(inbound)) and (
                time.monotonic() < deadline
            ):
                await asyncio.sleep(0.2)
            connected_at_end = await connected()
        out, got = _outbound(emu), await _inbox(url)
        await _stop(proc)
        await emu.close()
    return {
        "reboots": emu.reboots,
        "silent_s": silent,
        "outbound": len(numbers),
        "outbound_lost": len(numbers) - len(out),
        "outbound_repeated": sum(c - 1 for c in out.values()),
        "inbound_lost": len(set(inbound) - set(got)),
        "connected_at_end": connected_at_end,
        "set_up_again_max_s": round(max(back), 2),
    }


async def run(quick: bool = False, *, kills_in_all: int | None = None, batch: int | None = None,
              seed: int = 1) -> tuple[list[Figure], dict[str, Any]]:  # fmt: skip
    """The figures, and every trial's raw results."""
    total = kills_in_all if kills_in_all is not None else (2 if quick else 100)
    size = batch if batch is not None else (60 if quick else 300)
    rng = random.Random(seed)
    results: dict[str, Any] = {"kill": []}
    left = total
    while left > 0:
        n = min(10, left)
        results["kill"].append(await kills(n, size, rng))
        left -= n
    results["sigterm"] = await sigterm(1 if quick else 5)
    results["full_disk"] = await full_disk()
    results["stalled_modem"] = await stalled_modem()
    results["reboot"] = [await reboots(0.0)] + ([] if quick else [await reboots(3.0)])
    k, disk, stall = results["kill"], results["full_disk"], results["stalled_modem"]
    figures = [
        Figure("faults", f"outbound lost over {total} SIGKILLs mid-batch", sum(t["outbound_lost"] for t in k), "",
               f"batches of {size}; parts repeated {sum(t['outbound_repeated'] for t in k)}; inbound"
               f" {sum(t['inbound'] for t in k)}: lost {sum(t['inbound_lost'] for t in k)}, duplicated"
               f" {sum(t['inbound_duplicated'] for t in k)}"),
        Figure("faults", "recovery after a SIGKILL, median", sorted(t["recover_median_s"] for t in k)[len(k) // 2],
               "s", f"max {max(t['recover_max_s'] for t in k)} s"),
        Figure("faults", "parts repeated after SIGTERMs mid-submit", results["sigterm"]["repeated"], "",
               f"{results['sigterm']['sigterms']} SIGTERMs"),
        Figure("faults", "stalled modem: /healthz degraded after", stall["healthz_degraded_after_s"], "s",
               f"modem reset after {stall['modem_reset_after_s']} s"),
    ]  # fmt: skip
    for r in results["reboot"]:
        figures.append(
            Figure("faults", f"modem restarts by itself, silent {r['silent_s']:g} s: outbound lost",
                   r["outbound_lost"], "", f"{r['reboots']} restarts at every point of a send and a receive;"
                   f" repeated {r['outbound_repeated']}, inbound lost {r['inbound_lost']}, connected at the end"
                   f" {r['connected_at_end']}; the point reached and set up again within {r['set_up_again_max_s']} s")
        )  # fmt: skip
    if "skipped" not in disk:
        figures.append(
            Figure("faults", "full disk: all sent after space came back in", disk["all_sent_after_space_back_s"], "s",
                   f"API answered {disk['api_while_full']} while full; lost {disk['lost']}, repeated"
                   f" {disk['repeated']}")
        )  # fmt: skip
    return figures, results


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--kills", type=int, default=100, help="SIGKILLs in all, 10 per trial")
    p.add_argument("--batch", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    figures, results = await run(kills_in_all=args.kills, batch=args.batch, seed=args.seed)
    for f in figures:
        print(f"{f.name}: {f.value} {f.unit} ({f.detail})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
