"""The floor every package stands on: store, errors, clock, notifier, commune and hamlets, principal."""
