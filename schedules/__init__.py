"""Schedules: recurrence rules and quiet hours, evaluated on the app clock from database rows."""
