"""Config loading: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import config
from gateway.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def test_the_example_config_documents_every_key_and_loads() -> None:
    cfg = config.load(ROOT / "config.example.toml", env={})
    text = (ROOT / "config.example.toml").read_text(encoding="utf-8")
    import dataclasses

    for section in ("http", "database", "modem", "sms", "api"):
        assert f"[{section}]" in text
        for f in dataclasses.fields(getattr(cfg, section)):
            assert f"\n{f.name} =" in text or f"\n# {f.name} =" in text, f"{section}.{f.name}"


def test_no_file_means_embedded_defaults_with_the_emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.load(None, env={})
    assert cfg.source == "built-in defaults"
    assert cfg.modem.port == "emulator"
    assert (cfg.http.host, cfg.http.port) == ("127.0.0.1", 8080)
    assert cfg.database.path == "data/loa.sqlite3"


def test_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.load(None, env={"LOA_HTTP_PORT": "9000", "LOA_DB": "/tmp/x.sqlite3"})
    assert cfg.http.port == 9000 and cfg.database.path == "/tmp/x.sqlite3"
    with pytest.raises(ConfigError, match="LOA_HTTP_PORT"):
        config.load(None, env={"LOA_HTTP_PORT": "eighty"})


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[modem]\nbaud = 9600\n", "unknown config key modem.baud"),
        ("[modem]\nbaudrate = 'fast'\n", "config key modem.baudrate: expected int"),
        ("[sms]\nencoding = 'latin1'\n", "config key sms.encoding: 'latin1' is not one of"),
        ("[sms]\nstatus_reports = 1\n", "config key sms.status_reports: expected bool"),
        ("[api]\ntokens = 'abc'\n", "config key api.tokens: expected a list of strings"),
        ("[smss]\n", "unknown config section [smss]"),
        ("[http]\nport = 70000\n", "http.port"),
        ("[http\nport = 1\n", "is not valid TOML"),
        # `loa run` would crash on these later: refused by check-config already
        ("[web]\nsecret = 'abc'\n", "config key web.secret: must be 32 bytes"),
        ("[web]\nsecret = 'Zm9v'\n", "config key web.secret: must be 32 bytes"),
        ("[residents]\nussd_token = 'short'\n", "config key residents.ussd_token: at least 16"),
        (
            "[commune]\nhamlets = ['Nà Phìn']\n[player]\nrelay = 'gpio'\nlines = ['Khau Phạ=22']\n",
            "config key player.lines: 'Khau Phạ' is not in commune.hamlets",
        ),
        (
            "[commune]\nhamlets = ['Nà Phìn']\n[player]\nlines = ['Nà Phìn=22']\n",
            "config key player.lines: hamlets' lines need a relay",
        ),
        (
            "[commune]\nhamlets = ['Nà Phìn']\n[player]\nrelay = 'gpio'\nlines = ['Nà Phìn=two']\n",
            "config key player.lines: Nà Phìn=two: a GPIO pin number",
        ),
        (
            "[commune]\nhamlets = ['Nà Phìn']\n[player]\nrelay = 'gpio'\nlines = ['Nà Phìn']\n",
            "config key player.lines: 'Nà Phìn' is not hamlet=line",
        ),
        (
            "[commune]\nhamlets = ['Nà Phìn']\n[player]\nrelay = 'command'\nlines = ['Nà Phìn=1']\n",
            "config key player.line_on_command",
        ),
        # a pool of modems, SMPP and the routing policy
        ("[[modems]]\nport = '/dev/ttyUSB1'\nspeed = 1\n", "unknown config key modems.speed"),
        ("[[modems]]\nport = '/dev/ttyUSB1'\ncarrier = 'vtel'\n", "config key modems.carrier: 'vtel' is not one of"),
        ("[modem]\nport = '/dev/ttyUSB1'\n[[modems]]\nport = '/dev/ttyUSB1'\n", "a serial port is named twice"),
        ("[modem]\nname = 'A'\n[[modems]]\nport = '/dev/ttyUSB1'\nname = 'A'\n", "each modem needs its own name"),
        ("[modems]\nport = '/dev/ttyUSB1'\n", "config [[modems]]: a list of tables"),
        ("[modem]\nport = 'none'\n", '"none" needs [smpp] enabled'),
        ("[routing]\nbulk = 'modems'\n", "config key routing.bulk: 'modems' is not one of smpp, any"),
        ("[smpp]\nwindow = 0\n", "config key smpp.window: at least 1"),
    ],
)
def test_a_broken_config_names_the_key(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        config.load(path, env={})
    assert message in e.value.message


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml", env={})
