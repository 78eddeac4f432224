"""An AT-command GSM modem on a pseudo-terminal, with a phone side and faults on demand."""

from gateway.testing.emulator.families import FAMILIES, Family
from gateway.testing.emulator.modem import EmulatedModem, Faults
from gateway.testing.emulator.pdus import SentMessage, SentPart, deliver_pdus, status_report_pdu

__all__ = [
    "FAMILIES",
    "EmulatedModem",
    "Family",
    "Faults",
    "SentMessage",
    "SentPart",
    "deliver_pdus",
    "status_report_pdu",
]
