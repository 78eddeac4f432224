"""Disaster warnings: CAP 1.2 in and out, bulletins typed from a fax, the official repeat cadence, one stop."""
