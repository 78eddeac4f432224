"""The SMS path: modem protocol, AT layer, emulator, encoding, outbox and inbox."""
