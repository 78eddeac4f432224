"""Who is asking: a console user, an API token's owner, or the commune's own systems."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.errors import Forbidden


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    hamlet_id: int | None
    hamlet: str | None
    number: str | None = None  # the person's own phone (+84…), when the admin gave it

    @property
    def is_head(self) -> bool:
        return self.role == "hamlet_head"

    def require(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden("Tài khoản của bạn không được làm việc này (forbidden)", role=self.role)


# a principal for the config's API tokens: the machine-to-machine key of the whole commune
SYSTEM = User(0, "api", "admin", None, None)
