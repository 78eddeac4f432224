"""The [http], [web] and [api] config sections."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from gateway.core.errors import ConfigError


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class WebConfig:
    secret: str = ""
    session_hours: float = 8.0
    lock_after: int = 10
    lock_minutes: float = 15.0
    # the reverse proxies whose X-Forwarded-For names the client (addresses or networks); from any
    # other peer the header is ignored. Loopback: a proxy on the Pi itself, as docs/install.md advises
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")
    audit_days: int = 365  # audit rows older than this are deleted (0: kept for ever)

    def __post_init__(self) -> None:
        _ = self.proxies  # a bad entry fails when the config is read, naming the key

    @functools.cached_property
    def proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """trusted_proxies, parsed."""
        out = []
        for entry in self.trusted_proxies:
            try:
                out.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                key = "web.trusted_proxies"
                raise ConfigError(f"config key {key}: {entry!r} is not an IP address or network", key=key) from None
        return tuple(out)


@dataclass(frozen=True)
class ApiConfig:
    tokens: tuple[str, ...] = ()
