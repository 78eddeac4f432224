"""The real modem: our own asyncio AT conversation over a serial port (line protocol, behaviour, parsers)."""

from gateway.sms.at.line import ATLine
from gateway.sms.at.modem import ATModem
from gateway.sms.at.parse import decode_ussd, encode_ussd_packed, network_time, stored_pdu
from gateway.sms.at.ports import at_port, pick, probe

__all__ = [
    "ATLine",
    "ATModem",
    "at_port",
    "decode_ussd",
    "encode_ussd_packed",
    "network_time",
    "pick",
    "probe",
    "stored_pdu",
]
