"""One error hierarchy for Loa; `status` is the HTTP status the web layer maps each to, nothing more."""

from __future__ import annotations

from typing import Any


class LoaError(Exception):
    """Base of every error Loa raises on purpose."""

    status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(LoaError):
    pass


class InvalidRequest(LoaError):
    status = 400


class Unauthorized(LoaError):
    status = 401


class LoginRefused(LoaError):
    status = 401


class Forbidden(LoaError):
    status = 403


class NotFound(LoaError):
    status = 404


class LimitReached(LoaError):
    """A ceiling set in the config (SMS segments a day for a role) would be passed."""

    status = 429


class ModemError(LoaError):
    """The modem (or any transport) answered ERROR / +CMS ERROR / +CME ERROR, or not at all."""

    status = 503

    def __init__(self, message: str, *, code: int | None = None, transient: bool = True) -> None:
        super().__init__(message, code=code)
        self.code = code
        self.transient = transient


class ModemUnavailable(ModemError):
    """The port is closed or the modem stopped answering: not the message's fault."""


class StoreUnavailable(LoaError):
    """The database cannot be written (disk full, read-only, I/O error): nothing new is accepted."""

    status = 503
