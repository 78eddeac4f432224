"""A config for tests: a tmp database, a pty modem answering fast, a recording player, one API token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway import config as config_mod

TOKEN = "test-token-0123456789"
USSD_TOKEN = "ussd-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HAMLETS = ["Nà Phìn", "Khau Phạ", "Khau Vai", "Pả Vi", "Lũng Cú"]


def make_config(tmp_path: Path, port: str, **sections: Any) -> config_mod.Config:
    raw: dict[str, Any] = {
        "database": {"path": str(tmp_path / "loa.sqlite3")},
        "modem": {
            "port": port,
            "command_timeout": 2.0,
            "send_timeout": 5.0,
            "reconnect_min": 0.05,
            "reconnect_max": 0.2,
        },
        "sms": {"retry_base": 0.01, "retry_max": 0.05},
        "api": {"tokens": [TOKEN]},
        "commune": {"name": "xã Nà Phìn", "hamlets": HAMLETS},
        "residents": {"ussd_token": USSD_TOKEN, "sms_number": "0912345678"},
        "audio": {"cache_dir": str(tmp_path / "audio")},
        "player": {"kind": "recording", "relay": "recording", "warmup": 0.0, "tail": 0.0},
    }
    for name, values in sections.items():
        if isinstance(values, list):
            raw[name] = values  # [[modems]]
        else:
            raw.setdefault(name, {}).update(values)
    return config_mod.from_dict(raw, source="test")
