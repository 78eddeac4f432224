"""The real modem: our own asyncio AT conversation over a serial port (line protocol, behaviour, parsers)."""

from gateway.sms.at.line import ATLine, probe
from gateway.sms.at.modem import ATModem
from gateway.sms.at.parse import decode_ussd, encode_ussd_packed, network_time, stored_pdu

__all__ = ["ATLine", "ATModem", "decode_ussd", "encode_ussd_packed", "network_time", "probe", "stored_pdu"]
