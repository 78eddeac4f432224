"""Configuration: TOML into frozen dataclasses; an unknown key or a wrong type names the key."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from audio.config import AudioConfig, PlayerConfig
from audio.player import parse_lines
from broadcasts.config import BroadcastsConfig
from bulletins.config import BulletinsConfig
from compat.config import JasminConfig, KannelConfig, RapidProConfig, SmsServiceConfig
from gateway.core import phone
from gateway.core.backup import BackupConfig
from gateway.core.commune import CommuneConfig
from gateway.core.errors import ConfigError, LoaError
from gateway.core.store import DatabaseConfig
from gateway.core.text import fold
from gateway.residents.config import ResidentsConfig
from gateway.sms.config import ModemConfig, RoutingConfig, SmppConfig, SmsConfig
from gateway.sms.credit import CreditConfig
from gateway.web.config import ApiConfig, HttpConfig, WebConfig
from schedules.config import SchedulesConfig
from station.config import OUTPUT_KINDS, StationConfig
from station.zones import parse_map


@dataclass(frozen=True)
class Config:
    http: HttpConfig = field(default_factory=HttpConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    backup: BackupConfig = field(default_factory=BackupConfig)
    credit: CreditConfig = field(default_factory=CreditConfig)
    modem: ModemConfig = field(default_factory=ModemConfig)
    sms: SmsConfig = field(default_factory=SmsConfig)
    smpp: SmppConfig = field(default_factory=SmppConfig)
    # more modems beside [modem]: [[modems]] tables with the keys of [modem]
    modems: tuple[ModemConfig, ...] = ()
    routing: RoutingConfig = field(default_factory=RoutingConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    commune: CommuneConfig = field(default_factory=CommuneConfig)
    residents: ResidentsConfig = field(default_factory=ResidentsConfig)
    broadcasts: BroadcastsConfig = field(default_factory=BroadcastsConfig)
    bulletins: BulletinsConfig = field(default_factory=BulletinsConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    player: PlayerConfig = field(default_factory=PlayerConfig)
    schedules: SchedulesConfig = field(default_factory=SchedulesConfig)
    station: StationConfig = field(default_factory=StationConfig)
    web: WebConfig = field(default_factory=WebConfig)
    kannel: KannelConfig = field(default_factory=KannelConfig)
    rapidpro: RapidProConfig = field(default_factory=RapidProConfig)
    jasmin: JasminConfig = field(default_factory=JasminConfig)
    # Kannel-style rules for residents' messages: [[sms_service]] tables
    sms_service: tuple[SmsServiceConfig, ...] = ()
    source: str = "built-in defaults"


_CHOICES: dict[str, tuple[str, ...]] = {
    "modem.emulator_family": ("huawei", "sim800", "wavecom", "k3715", "e1752", "m6280", "k3565z", "n79"),
    "audio.engine": ("espeak-ng",),
    "audio.voice": ("vi", "vi-vn-x-central", "vi-vn-x-south"),
    "player.kind": ("aplay", "command", "folder", "recording"),
    "player.relay": ("none", "gpio", "command", "recording"),
    "station.fm_relay": ("none", "gpio", "command", "recording"),
    "modem.carrier": ("", *phone.CARRIERS),
    "modems.carrier": ("", *phone.CARRIERS),
    "modem.kind": ("at", "hilink"),
    "modems.kind": ("at", "hilink"),
    "modems.emulator_family": ("huawei", "sim800", "wavecom", "k3715", "e1752", "m6280", "k3565z", "n79"),
    "routing.alerts": ("all", "smpp", "modems"),
    "routing.bulk": ("smpp", "any"),
    "routing.replies": ("same", "any"),
}
# the emulator's modem families (gateway.testing.emulator.FAMILIES), the LTE modules first
FAMILY_NAMES = ("ec25", "sim7600", "e3372h", "huawei", "sim800", "wavecom", "k3715", "e1752", "m6280", "k3565z", "n79")
_CHOICES["modem.emulator_family"] = _CHOICES["modems.emulator_family"] = FAMILY_NAMES


def _convert(key: str, value: Any, hint: Any) -> Any:
    if typing.get_origin(hint) is typing.Literal:
        if value in typing.get_args(hint):
            return value
        choices = ", ".join(map(str, typing.get_args(hint)))
        raise ConfigError(f"config key {key}: {value!r} is not one of {choices}", key=key)
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(hint) is tuple:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(f"config key {key}: expected a list of strings, got {value!r}", key=key)
    name = getattr(hint, "__name__", str(hint))
    raise ConfigError(f"config key {key}: expected {name}, got {value!r}", key=key)


def _section(name: str, cls: type[Any], raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"config section [{name}] must be a table", key=name)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    values = {}
    for key, value in raw.items():
        full = f"{name}.{key}"
        if key not in known:
            raise ConfigError(f"unknown config key {full} (known: {', '.join(sorted(known))})", key=full)
        values[key] = _convert(full, value, hints[key])
        if full in _CHOICES and values[key] not in _CHOICES[full]:
            raise ConfigError(f"config key {full}: {value!r} is not one of {', '.join(_CHOICES[full])}", key=full)
    return cls(**values)


def from_dict(raw: dict[str, Any], source: str = "dict") -> Config:
    hints = typing.get_type_hints(Config)
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in hints or name == "source":
            known = ", ".join(f"[{k}]" for k in hints if k != "source")
            raise ConfigError(f"unknown config section [{name}] (known: {known})", key=name)
        if name == "modems":
            if not isinstance(value, list):
                raise ConfigError("config [[modems]]: a list of tables, each like [modem]", key=name)
            sections[name] = tuple(_section("modems", ModemConfig, v) for v in value)
            continue
        if name == "sms_service":
            if not isinstance(value, list):
                raise ConfigError("config [[sms_service]]: a list of tables, each one rule", key=name)
            sections[name] = tuple(_section("sms_service", SmsServiceConfig, v) for v in value)
            continue
        sections[name] = _section(name, hints[name], value)
    config = Config(**sections, source=source)
    _check_modems(config)
    if not 0 <= config.http.port <= 65535:
        raise ConfigError(f"config key http.port: {config.http.port} is not a port", key="http.port")
    for key in ("quiet_start", "quiet_end"):
        value = getattr(config.broadcasts, key)
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ConfigError(f"config key broadcasts.{key}: {value!r} is not a time like 21:00", key=key)
    try:
        ZoneInfo(config.broadcasts.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"config key broadcasts.timezone: unknown time zone {config.broadcasts.timezone!r}",
            key="broadcasts.timezone",
        ) from None
    if config.web.secret:
        try:
            session_key = base64.urlsafe_b64decode(config.web.secret.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            session_key = b""
        if len(session_key) != 32:
            raise ConfigError(
                "config key web.secret: must be 32 bytes in url-safe base64 (44 characters), e.g. from"
                ' python3 -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())"',
                key="web.secret",
            )
    token = config.residents.ussd_token
    if token and (len(token) < 16 or len(set(token)) < 8 or any(c.isspace() for c in token)):
        raise ConfigError(
            "config key residents.ussd_token: at least 16 characters, no spaces, not one repeated (guessable)",
            key="residents.ussd_token",
        )
    if not 0 <= config.backup.hour <= 23:
        raise ConfigError(f"config key backup.hour: {config.backup.hour} is not an hour (0–23)", key="backup.hour")
    if config.backup.keep_daily < 1 or config.backup.keep_weekly < 0:
        raise ConfigError("config key backup.keep_daily: at least 1 (keep_weekly at least 0)", key="backup.keep_daily")
    code = config.credit.ussd_code
    if code and not re.fullmatch(r"\*[0-9*]+#", code):
        raise ConfigError(
            f"config key credit.ussd_code: {code!r} is not a USSD code like *101#", key="credit.ussd_code"
        )
    c = config.credit
    if bool(c.sms_number) != bool(c.sms_text) or (c.sms_number and not re.fullmatch(r"\+?\d{3,15}", c.sms_number)):
        raise ConfigError(
            "config key credit.sms_number: the balance-by-SMS query needs both sms_number (the carrier's short"
            f" code, digits) and sms_text; got {c.sms_number!r} / {c.sms_text!r}",
            key="credit.sms_number",
        )
    for key, listed in (
        ("credit.warn_to", config.credit.warn_to),
        ("modem.tell_when_back", config.modem.tell_when_back),
        *(("modems.tell_when_back", m.tell_when_back) for m in config.modems),
    ):
        for number in listed:
            try:
                phone.normalise(number)
            except LoaError:
                raise ConfigError(f"config key {key}: {number!r} is not a Vietnamese mobile number", key=key) from None
    _check_lines(config)
    _check_compat(config)
    _check_station(config)
    if config.sms.max_tries < 1:
        raise ConfigError("config key sms.max_tries: must be at least 1", key="sms.max_tries")
    return config


def all_modems(config: Config) -> list[ModemConfig]:
    """[modem] and every [[modems]], each with its name ("modem 1", "modem 2" … when none is given)."""
    found = [m for m in (config.modem, *config.modems) if not m.absent]
    return [m if m.name else dataclasses.replace(m, name=f"modem {i}") for i, m in enumerate(found, start=1)]


def _check_modems(config: Config) -> None:
    modems = all_modems(config)
    names = [m.name for m in modems]
    if len(set(names)) != len(names) or "smpp" in names:
        raise ConfigError(f"config key modems.name: each modem needs its own name (not smpp): {names}", key="modems")
    ports = [m.port for m in modems if not m.emulated and m.kind == "at"]
    if len(set(ports)) != len(ports):
        raise ConfigError(f"config key modems.port: a serial port is named twice: {ports}", key="modems")
    urls = [m.url.rstrip("/") for m in modems if m.kind == "hilink"]
    if len(set(urls)) != len(urls):
        raise ConfigError(f"config key modems.url: a HiLink dongle's url is named twice: {urls}", key="modems")
    for m in modems:
        if m.kind == "hilink" and not re.fullmatch(r"https?://[^/\s]+/?", m.url):
            raise ConfigError(f"config key modems.url: {m.url!r} is not like http://192.168.8.1/", key="modems.url")
    if not modems and not config.smpp.enabled:
        raise ConfigError('config key modem.port: "none" needs [smpp] enabled (nothing could send)', key="modem.port")
    if config.smpp.window < 1:
        raise ConfigError("config key smpp.window: at least 1", key="smpp.window")


def _check_compat(config: Config) -> None:
    """The adapters' accounts are strong enough, their priorities known, each sms-service rule whole."""
    for name in ("kannel", "jasmin"):
        section = getattr(config, name)
        if section.username and len(section.password) < 12:
            raise ConfigError(f"config key {name}.password: at least 12 characters (guessable)", key=f"{name}.password")
    r = config.rapidpro
    if r.channel_uuid:
        if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", r.channel_uuid):
            raise ConfigError("config key rapidpro.channel_uuid: not a UUID", key="rapidpro.channel_uuid")
        if not re.fullmatch(r"https?://[^/\s]+(/\S*)?", r.url):
            raise ConfigError("config key rapidpro.url: like https://textit.com", key="rapidpro.url")
        if len(r.authorization) < 16:
            raise ConfigError("config key rapidpro.authorization: at least 16 characters", key="rapidpro.authorization")
    for name in ("kannel", "rapidpro", "jasmin"):
        section = getattr(config, name)
        if section.priority not in ("reply", "reminder", "bulk"):
            raise ConfigError(f"config key {name}.priority: reply, reminder or bulk", key=f"{name}.priority")
        if section.per_minute < 0 or section.daily_segments < 0:
            raise ConfigError(f"config key {name}.per_minute: 0 or more (daily_segments too)", key=f"{name}.per_minute")
    key = "sms_service.get_url"
    for rule in config.sms_service:
        if bool(rule.keyword) == bool(rule.keyword_regex):
            raise ConfigError(
                "config key sms_service.keyword: one of keyword or keyword_regex", key="sms_service.keyword"
            )
        if bool(rule.get_url) == bool(rule.post_url):
            raise ConfigError("config key sms_service.get_url: one of get_url or post_url", key=key)
        url = rule.get_url or rule.post_url
        if not re.fullmatch(r"https?://\S+", url):
            raise ConfigError(
                f"config key sms_service.get_url: {url!r} is not an http(s) URL", key="sms_service.get_url"
            )
        if rule.keyword_regex:
            try:
                re.compile(rule.keyword_regex)
            except re.error as e:
                raise ConfigError(
                    f"config key sms_service.keyword_regex: {e}", key="sms_service.keyword_regex"
                ) from None
        if not 0 <= rule.max_messages <= 10:
            raise ConfigError("config key sms_service.max_messages: 0..10", key="sms_service.max_messages")


def _check_lines(config: Config) -> None:
    """[player] lines name hamlets of [commune] hamlets, each once, with a line the relay kind understands."""
    p = config.player
    try:
        lines = parse_lines(p.lines)
    except ValueError as e:
        raise ConfigError(f"config key player.lines: {e}", key="player.lines") from None
    if not lines:
        return
    if p.relay == "none":
        raise ConfigError("config key player.lines: hamlets' lines need a relay (player.relay)", key="player.lines")
    known = {fold(h).lower(): h for h in config.commune.hamlets}
    for name, line in lines.items():
        if fold(name).lower() not in known:
            raise ConfigError(f"config key player.lines: {name!r} is not in commune.hamlets", key="player.lines")
        if p.relay == "gpio" and not line.isdigit():
            raise ConfigError(f"config key player.lines: {name}={line}: a GPIO pin number", key="player.lines")
    if len({fold(n).lower() for n in lines}) != len(lines):
        raise ConfigError("config key player.lines: a hamlet is named twice", key="player.lines")
    if p.relay == "command" and not (p.line_on_command and p.line_off_command):
        raise ConfigError(
            "config key player.line_on_command: with lines and a command relay, line_on_command and"
            " line_off_command (with {line}) are needed",
            key="player.line_on_command",
        )


def _check_station(config: Config) -> None:
    """[station]: known outputs, each once, zones naming hamlets and outputs it has, what each output needs."""
    s = config.station
    for name in s.outputs:
        if name not in OUTPUT_KINDS:
            raise ConfigError(f"config key station.outputs: {name!r} is not one of {', '.join(OUTPUT_KINDS)}",
                              key="station.outputs")  # fmt: skip
    if len(set(s.outputs)) != len(s.outputs):
        raise ConfigError("config key station.outputs: an output is named twice", key="station.outputs")
    for key, entries in (("station.zones", s.zones), ("station.rtp_targets", s.rtp_targets)):
        try:
            found = parse_map(entries, list(config.commune.hamlets), key)
        except ValueError as e:
            raise ConfigError(f"config key {e}", key=key) from None
        for values in found.values():
            for v in values:
                bad = v not in s.outputs if key == "station.zones" else not re.fullmatch(r"[\w.:-]+:\d{1,5}", v)
                if bad:
                    raise ConfigError(f"config key {key}: {v!r} is not " + (
                        f"one of station.outputs ({', '.join(s.outputs)})" if key == "station.zones"
                        else "host:port (e.g. 239.255.1.1:5004)"), key=key)  # fmt: skip
    if "icecast" in s.outputs:
        if not re.fullmatch(r"https?://[^/\s]+/?", s.icecast_url):
            raise ConfigError(f"config key station.icecast_url: {s.icecast_url!r} is not like http://127.0.0.1:8000",
                              key="station.icecast_url")  # fmt: skip
        if not s.icecast_source_password:
            raise ConfigError("config key station.icecast_source_password: needed for the icecast output",
                              key="station.icecast_source_password")  # fmt: skip
        if not 16 <= s.icecast_bitrate <= 320:
            raise ConfigError("config key station.icecast_bitrate: 16 to 320 (kbit/s)", key="station.icecast_bitrate")
    if "rtp" in s.outputs and not s.rtp_targets:
        raise ConfigError("config key station.rtp_targets: the rtp output needs targets", key="station.rtp_targets")
    if not 1 <= s.rtp_ttl <= 32:
        raise ConfigError("config key station.rtp_ttl: 1 to 32", key="station.rtp_ttl")
    if not (0 <= s.fm_warmup <= 30 and 0 <= s.fm_tail <= 30):
        raise ConfigError("config key station.fm_warmup: 0 to 30 s (fm_tail too)", key="station.fm_warmup")


def load(path: str | Path | None = None, env: typing.Mapping[str, str] | None = None) -> Config:
    """Read the config file (if any), then apply LOA_HTTP_PORT / LOA_DB from the environment."""
    env = os.environ if env is None else env
    path = path or env.get("LOA_CONFIG") or None
    if path is None and Path("config.toml").exists():
        path = "config.toml"
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} not found", key="path") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path} is not valid TOML: {e}", key="path") from None
    overrides = {"LOA_HTTP_PORT": ("http", "port"), "LOA_DB": ("database", "path")}
    for var, (section, key) in overrides.items():
        if var in env:
            value: Any = env[var]
            if key == "port":
                try:
                    value = int(value)
                except ValueError:
                    raise ConfigError(f"{var}={value!r} is not a port number", key=var) from None
            raw.setdefault(section, {})[key] = value
    return from_dict(raw, source=str(path) if path else "built-in defaults")


def replace(config: Config, **sections: Any) -> Config:
    return dataclasses.replace(config, **sections)
