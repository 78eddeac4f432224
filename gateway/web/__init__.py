"""HTTP surface: health, the JSON API (the console comes with its own issue)."""
