"""A full disk: SMS that arrived meanwhile are read as soon as the disk has room again, not at the
5-minute sweep; and the write-ahead log is given back once a write goes through again (issue #31)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from gateway.core.keys import STORE
from gateway.testing import AUTH, EmulatedModem, until, wait_inbox
from tests.test_faults import _fill, _mount_small_disk


async def test_sms_refused_while_the_disk_was_full_are_read_as_soon_as_it_has_room(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    if not _mount_small_disk(disk):
        pytest.skip("needs root to mount a 3 MB tmpfs as the full disk")
    try:
        client = await start_gateway(emulator, database={"path": str(disk / "loa.sqlite3"), "min_free_mb": 0})
        filler = _fill(disk)
        emulator.deliver("+84961234567", "Câu hỏi khi đĩa đầy")

        async def refused() -> bool:
            return client.app[STORE].problem is not None

        await until(client, refused)
        assert emulator._storage[emulator.mem[2]], "kept on the SIM, not lost"
        filler.unlink()  # space comes back; the next sweep would be 5 minutes away
        got = await wait_inbox(client, 1, AUTH)
        assert got[0]["text"] == "Câu hỏi khi đĩa đầy"
        assert client.app[STORE].problem is None
        assert not any(emulator._storage.values()), "deleted from the SIM once stored"
        await client.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


async def test_a_full_disk_checkpoints_the_write_ahead_log(
    emulator: EmulatedModem, start_gateway: Any, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    if not _mount_small_disk(disk):
        pytest.skip("needs root to mount a 3 MB tmpfs as the full disk")
    try:
        client = await start_gateway(emulator, database={"path": str(disk / "loa.sqlite3"), "min_free_mb": 0})
        wal = disk / "loa.sqlite3-wal"
        filler = _fill(disk)
        emulator.deliver("+84961234567", "Câu hỏi khi đĩa đầy")

        async def refused() -> bool:
            return client.app[STORE].problem is not None

        await until(client, refused)
        assert wal.stat().st_size > 0
        # a little room freed (1 MB, less than a log can grow to): the next write goes through, and the
        # log is copied into the database and truncated, so it does not fill the disk again
        os.truncate(filler, max(0, filler.stat().st_size - 2**20))

        async def writable() -> bool:
            return client.app[STORE].problem is None

        await until(client, writable)
        assert wal.stat().st_size == 0
        await wait_inbox(client, 1, AUTH)
        await client.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
