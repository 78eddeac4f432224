"""The adapters' tables: what each accepted (for its receipts) and the callbacks still to make."""

from __future__ import annotations

import sqlite_utils


def _m030_compat(db: sqlite_utils.Database) -> None:
    # one row per outbox message accepted through an adapter: whom to tell of its fate, and how
    db.table("compat_messages").create(
        {
            "outbox_id": int,
            "system": str,  # kannel, rapidpro, jasmin
            "external_id": str,  # RapidPro's message uuid; "" for the others
            "recipient": str,
            "sender": str,
            "segments": int,
            "dlr_url": str,
            "dlr_mask": int,  # Kannel's bits; Jasmin's dlr-level (1, 2, 3); RapidPro: 31
            "dlr_method": str,
            "last_status": str,
            "open": int,  # 0 once delivered or failed: nothing more to tell
            "created_at": float,
        },
        pk="outbox_id",
    )
    db.table("compat_messages").create_index(["open"])
    db.table("compat_messages").create_index(["system", "created_at"])
    # every HTTP call Loa owes another system (a receipt, a resident's message, an opt-out): made at
    # least once, retried with backoff, across restarts
    db.table("compat_callbacks").create(
        {
            "id": int,
            "kind": str,  # dlr, mo, stopped
            "system": str,
            "method": str,
            "url": str,
            "body": bytes,
            "headers": str,  # JSON object
            "expect": str,  # the body a success must have (Jasmin's ACK/Jasmin), "" for any 2xx
            "reply_to": str,  # an sms-service's answer goes back to this number ("" = no answer)
            "reply_rule": int,  # which [[sms_service]] (its max_messages, X-Kannel headers)
            "tries": int,
            "next_at": float,
            "created_at": float,
            "done_at": float,
            "given_up": int,
            "last_error": str,
        },
        pk="id",
    )
    db.table("compat_callbacks").create_index(["done_at", "next_at"])


MIGRATIONS = [("030_compat", _m030_compat)]
