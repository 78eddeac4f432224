"""The web floor: API tokens, sessions, CSRF, accounts, the error middleware, base templates; no domain."""
