"""What tests (ours and a deployer's) drive Loa with: the modem emulator, a fake clock, waits, a phone."""

from gateway.testing.config import AUTH, HAMLETS, TOKEN, USSD_TOKEN, make_config
from gateway.testing.emulator import EmulatedModem, SentMessage, deliver_pdus, status_report_pdu
from gateway.testing.helpers import (
    VN,
    FakeClock,
    at,
    count,
    csrf_of,
    inbox,
    log_in,
    routed,
    say,
    settled,
    sql,
    to,
    until,
    wait_inbox,
    wait_sent,
)

__all__ = [
    "AUTH",
    "HAMLETS",
    "TOKEN",
    "USSD_TOKEN",
    "VN",
    "EmulatedModem",
    "FakeClock",
    "SentMessage",
    "at",
    "count",
    "csrf_of",
    "deliver_pdus",
    "inbox",
    "log_in",
    "make_config",
    "routed",
    "say",
    "settled",
    "sql",
    "status_report_pdu",
    "to",
    "until",
    "wait_inbox",
    "wait_sent",
]
