"""The test SMSC (tests/smsc, on the npm `smpp` package) as a subprocess the tests and benchmarks drive."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

SMSC_DIR = Path(__file__).resolve().parents[2] / "tests" / "smsc"


def smsc_missing() -> str | None:
    """Why the test SMSC cannot start here, or None."""
    if shutil.which("node") is None or not (SMSC_DIR / "node_modules" / "smpp").is_dir():
        return "the test SMSC needs Node.js and `npm ci` in tests/smsc (make test does both)"
    return None


class Smsc:
    """One running test SMSC: `submits` fills as it takes them (unless quiet); `order` drives it."""

    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc, self.port = proc, port
        self.submits: list[dict[str, Any]] = []
        self._counts: asyncio.Queue[dict[str, int]] = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *, quiet: bool = False) -> Smsc:
        why = smsc_missing()
        if why:
            raise RuntimeError(why)
        proc = await asyncio.create_subprocess_exec(
            "node", str(SMSC_DIR / "smsc.js"), *(["--quiet"] if quiet else []),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
        return cls(proc, int(first["port"]))

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            found = json.loads(line)
            if "submit" in found:
                self.submits.append(found["submit"])
            elif "count" in found:
                self._counts.put_nowait(found["count"])

    async def order(self, **what: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(what) + "\n").encode())
        await self.proc.stdin.drain()

    async def count(self) -> dict[str, int]:
        """{"submits": taken, "receipts": sent} so far."""
        await self.order(count=True)
        return await asyncio.wait_for(self._counts.get(), 10)

    async def close(self) -> None:
        self.reader.cancel()
        if self.proc.returncode is None:
            self.proc.kill()
        await self.proc.wait()
