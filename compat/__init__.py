"""Other SMS systems' languages over Loa's outbox and router: Kannel, RapidPro/TextIt, Jasmin."""
