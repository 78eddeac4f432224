"""USSD: the aggregator callback endpoint and the menu tree over the knowledge base."""
