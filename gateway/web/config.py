"""The [http], [web] and [api] config sections."""

from __future__ import annotations

from dataclasses import dataclass


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


@dataclass(frozen=True)
class ApiConfig:
    tokens: tuple[str, ...] = ()
