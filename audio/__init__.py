"""Speech, announcement assembly, loudness, the render cache, players and the amplifier relay; no SMS, no web."""
