"""The Loa server: app factory, config, store, SMS path, API and CLI."""
