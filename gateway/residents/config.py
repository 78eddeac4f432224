"""The [residents] config section."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ResidentsConfig:
    daily_reply_cap: int = 5
    daily_questions: int = 10  # one sender's questions on the officials' page in 24 hours; more stay in the inbox
    choice_timeout: float = 3600.0
    ussd_session_timeout: float = 180.0
    ussd_token: str = ""
    sms_number: str = ""
