"""The adapters' config sections: [kannel], [rapidpro], [jasmin] and [[sms_service]] rules."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KannelConfig:
    # /cgi-bin/sendsms is off until a username is set; its own account, never a console one
    username: str = ""
    password: str = ""
    per_minute: int = 60  # sendsms requests a minute at most (503 "Temporal failure" beyond)
    daily_segments: int = 2000  # SMS segments in 24 hours at most through this adapter (0 = no ceiling)
    priority: str = "reminder"  # what priority=0 (or none) means; 1 and more are "reply"
    own_number: str = ""  # what %P stands for in sms-service URLs (the SIM's number, if known)


@dataclass(frozen=True)
class RapidProConfig:
    # the External API (EX) channel: off until channel_uuid is set
    channel_uuid: str = ""
    url: str = ""  # RapidPro/TextIt's base, e.g. https://textit.com (then /c/ex/<uuid>/receive …)
    authorization: str = ""  # the Authorization header RapidPro's send request carries (16+ characters)
    keywords: tuple[str, ...] = ()  # residents' first words that go to RapidPro before the residents' keywords
    catch_all: bool = False  # what nobody answered goes to RapidPro instead of the officials' inbox
    per_minute: int = 120
    daily_segments: int = 2000
    priority: str = "reminder"


@dataclass(frozen=True)
class JasminConfig:
    # Jasmin's HTTP /send as /jasmin/send: off until a username is set
    username: str = ""
    password: str = ""
    per_minute: int = 60
    daily_segments: int = 2000
    priority: str = "reminder"


@dataclass(frozen=True)
class SmsServiceConfig:
    """One Kannel sms-service: residents' messages whose first word matches go to a URL, its answer back."""

    keyword: str = ""  # the first word, any case; "default" takes what nobody else answered
    keyword_regex: str = ""  # or a regular expression the first word must match
    get_url: str = ""
    post_url: str = ""
    allowed_prefix: tuple[str, ...] = ()  # senders' number prefixes this rule is for (none = all)
    denied_prefix: tuple[str, ...] = ()
    max_messages: int = 1  # 0: the service's answer is not sent back
