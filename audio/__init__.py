"""Speech, announcement assembly and players (not built yet)."""
