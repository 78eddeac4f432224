"""The SMS path: the Transport interface and the AT modem, encoding, PDUs, outbox, inbox, inbound router."""
