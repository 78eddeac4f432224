"""Residents' self-service by SMS: normaliser, matcher, knowledge base, subscriptions, questions."""
