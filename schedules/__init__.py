"""The scheduler: jobs rebuilt from the database (not built yet)."""
