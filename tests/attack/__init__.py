"""Attacks on the running gateway: each finding of the attack on it, kept as a test."""
