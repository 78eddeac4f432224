"""The HTTP calls Loa owes other systems, built from what happened (pure: no I/O): Kannel's dlr-url
and sms-service URLs, Jasmin's receipts, RapidPro's receive, status and stopped."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from compat import escapes
from compat.config import RapidProConfig, SmsServiceConfig

# Kannel's dlr-mask bits (gw/dlr.h): delivered, undelivered, buffered, SMSC accepted, SMSC rejected
DLR_SUCCESS, DLR_FAIL, DLR_BUFFERED, DLR_SMSC_SUCCESS, DLR_SMSC_FAIL = 1, 2, 4, 8, 16
JASMIN_ACK = "ACK/Jasmin"
Call = dict[str, Any]


def events(previous: str, status: str, was_sent: bool) -> list[str]:
    """What a change of an outbox message's status tells: "sent" (the network took every part),
    "delivered", or "failed" / "rejected" (failed after / before the network took it)."""
    out = []
    if status in ("sent", "delivered") and previous in ("queued", "sending"):
        out.append("sent")
    if status == "delivered":
        out.append("delivered")
    if status == "failed":
        out.append("failed" if was_sent else "rejected")
    return out


def _kannel_time(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


def kannel_dlr(row: dict[str, Any], event: str, at: float, reference: str, error: str) -> Call | None:
    """Kannel's dlr-url for one event, when the dlr-mask asks for it (%d its bit, %A the SMSC's answer)."""
    bit, answer = {
        "sent": (DLR_SMSC_SUCCESS, "ACK/"),
        "delivered": (DLR_SUCCESS, ""),
        "failed": (DLR_FAIL, ""),
        "rejected": (DLR_SMSC_FAIL, f"NACK/{error}"),
    }[event]
    if not row["dlr_url"] or not row["dlr_mask"] & bit:
        return None
    values = {
        "d": str(bit), "A": answer, "a": answer, "b": answer, "k": answer.split(" ")[0] if answer else "",
        "p": row["recipient"], "q": row["recipient"], "P": row["sender"], "Q": row["sender"],
        "t": _kannel_time(at), "T": str(int(at)), "I": str(row["outbox_id"]), "F": reference,
    }  # fmt: skip
    return {"kind": "dlr", "system": "kannel", "method": "GET", "url": escapes.fill(row["dlr_url"], values)}


def jasmin_dlr(row: dict[str, Any], event: str, at: float, reference: str) -> Call | None:
    """Jasmin's receipt: level 1 when the network took it (or refused it), level 2 at the end."""
    level = row["dlr_mask"]
    wanted = (1, 3) if event == "sent" else (2, 3)
    if not row["dlr_url"] or level not in wanted:
        return None
    stamp = datetime.fromtimestamp(at, UTC).strftime("%y%m%d%H%M")
    fields: dict[str, str] = {"id": str(row["outbox_id"]), "connector": "loa"}
    if event == "sent":
        fields |= {"message_status": "ESME_ROK", "level": "1"}
    else:
        status = {"delivered": "DELIVRD", "failed": "UNDELIV", "rejected": "REJECTD"}[event]
        fields |= {
            "message_status": status, "level": "2", "id_smsc": reference, "sub": "001",
            "dlvrd": "001" if event == "delivered" else "000", "subdate": stamp, "donedate": stamp,
            "err": "000" if event == "delivered" else "001", "text": "",
        }  # fmt: skip
    return _form("dlr", "jasmin", row["dlr_method"], row["dlr_url"], fields, expect=JASMIN_ACK)


def rapidpro_status(config: RapidProConfig, row: dict[str, Any], event: str) -> Call:
    """RapidPro's /sent, /delivered or /failed for its message uuid."""
    which = {"sent": "sent", "delivered": "delivered", "failed": "failed", "rejected": "failed"}[event]
    return _form("dlr", "rapidpro", "POST", _rapidpro_url(config, which), {"id": row["external_id"]})


def rapidpro_receive(config: RapidProConfig, sender: str, text: str, at: float) -> Call:
    """A resident's message to RapidPro's External API channel (`from`, `text`, `date` in RFC 3339)."""
    date = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return _form(
        "mo", "rapidpro", "POST", _rapidpro_url(config, "receive"), {"from": sender, "text": text, "date": date}
    )


def rapidpro_stopped(config: RapidProConfig, number: str) -> Call:
    """A resident sent HUY: RapidPro stops the contact too."""
    return _form("stopped", "rapidpro", "POST", _rapidpro_url(config, "stopped"), {"from": number})


def _rapidpro_url(config: RapidProConfig, what: str) -> str:
    return f"{config.url.rstrip('/')}/c/ex/{config.channel_uuid}/{what}"


def _form(kind: str, system: str, method: str, url: str, fields: dict[str, str], *, expect: str = "") -> Call:
    encoded = urlencode(fields)
    if method.upper() == "GET":
        return {"kind": kind, "system": system, "method": "GET", "url": f"{url}{'&' if '?' in url else '?'}{encoded}",
                "expect": expect}  # fmt: skip
    return {"kind": kind, "system": system, "method": "POST", "url": url, "body": encoded.encode(),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"}, "expect": expect}  # fmt: skip


def rule_matches(rule: SmsServiceConfig, sender: str, text: str) -> bool:
    """Kannel's choice of service: the first word is the keyword (any case) or matches keyword-regex,
    and the sender's number starts with an allowed prefix and with no denied one."""
    if rule.allowed_prefix and not any(sender.startswith(p) for p in rule.allowed_prefix):
        return False
    if any(sender.startswith(p) for p in rule.denied_prefix):
        return False
    first = (text.split() or [""])[0]
    if rule.keyword_regex:
        return re.search(rule.keyword_regex, first, re.IGNORECASE) is not None
    return first.casefold() == rule.keyword.casefold()


def sms_service(rule: SmsServiceConfig, index: int, sender: str, receiver: str, text: str, at: float,
                message_id: int) -> Call:  # fmt: skip
    """The sms-service's get-url (escapes URL-encoded) or post-url (the text as the body, X-Kannel-* headers)."""
    values = escapes.mo_values(sender, receiver, text, at=_kannel_time(at), unix=int(at), message_id=message_id,
                               smsc="loa")  # fmt: skip
    call: Call = {"kind": "mo", "system": "kannel", "reply_to": sender if rule.max_messages > 0 else "",
                  "reply_rule": index}  # fmt: skip
    if rule.get_url:
        return call | {"method": "GET", "url": escapes.fill(rule.get_url, values)}
    headers = {
        "Content-Type": "text/plain; charset=UTF-8", "X-Kannel-From": sender, "X-Kannel-To": receiver,
        "X-Kannel-Time": _kannel_time(at), "X-Kannel-SMSC": "loa", "X-Kannel-Coding": "0",
    }  # fmt: skip
    return call | {
        "method": "POST",
        "url": escapes.fill(rule.post_url, values),
        "body": text.encode(),
        "headers": headers,
    }
