"""A quick pass of every benchmark (small sizes), so that none of them rots between real runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path


def test_every_benchmark_runs_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(out)], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["failed"] == []
    benches = {"sms_path", "transports", "keywords", "broadcast", "loudspeaker", "station", "faults"}
    assert {f["bench"] for f in result["figures"]} == benches
    assert "| benchmark | figure | value | how |" in done.stdout
    peers = {p["peer"]: p for p in result["peers"]}
    expected = {"Loa"} | (
        {"Gammu SMSD 1.42, defaults", "Gammu SMSD 1.42, tuned"} if shutil.which("gammu-smsd") else set()
    )
    assert set(peers) == expected
    for row in peers.values():
        # the same workload through both gateways: nothing lost or sent twice, Vietnamese exact
        assert row["outbound_lost"] == row["inbound_lost"] == 0, row
        assert row["outbound_duplicated"] == row["inbound_duplicated"] == 0, row
        assert row["vietnamese_exact"], row
