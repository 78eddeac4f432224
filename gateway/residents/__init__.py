"""Residents' self-service by SMS: normaliser, matcher, knowledge base, DK/HUY, the officials' questions."""
