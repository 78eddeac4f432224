"""Time: the one scheduler of every job kind, recurrence rules, quiet hours; knows nothing of SMS or audio."""
