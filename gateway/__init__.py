"""The Loa server: the composition root (app.py), the config, the CLI, the dashboard, and its packages."""
