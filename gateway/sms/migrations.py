"""The SMS tables: outbox and its parts, inbox, reassembly, deduplication, rejects."""

from __future__ import annotations

import sqlite_utils


def _m001_sms(db: sqlite_utils.Database) -> None:
    db.table("outbox").create(
        {
            "id": int,
            "recipient": str,
            "text": str,
            "body": str,
            "encoding": str,
            "segments": int,
            "priority": int,
            "status": str,
            "tries": int,
            "next_attempt_at": float,
            "last_error": str,
            "source": str,
            "concat_ref": int,
            "created_at": float,
            "sent_at": float,
            "delivered_at": float,
            "failed_at": float,
        },
        pk="id",
        not_null={"recipient", "text", "body", "encoding", "segments", "priority", "status"},
        defaults={"tries": 0, "next_attempt_at": 0},
    )
    db.table("outbox").create_index(["status", "priority", "next_attempt_at", "id"])
    db.table("outbox_parts").create(
        {
            "message_id": int,
            "part": int,
            "reference": int,
            "status": str,
            "sent_at": float,
            "report_status": int,
            "report_at": float,
        },
        pk=("message_id", "part"),
        foreign_keys=[("message_id", "outbox", "id")],
    )
    db.table("outbox_parts").create_index(["reference", "sent_at"])
    # delivery reports that arrived before the part they answer was recorded
    db.table("early_reports").create(
        {"id": int, "reference": int, "number": str, "status": int, "received_at": float}, pk="id"
    )
    db.table("inbox").create(
        {
            "id": int,
            "sender": str,
            "text": str,
            "parts": int,
            "partial": int,
            "sent_at": str,
            "received_at": float,
        },
        pk="id",
    )
    db.table("inbox").create_index(["received_at"])
    db.table("inbound_parts").create(
        {
            "sender": str,
            "reference": int,
            "total": int,
            "seq": int,
            "units": bytes,
            "sent_at": str,
            "received_at": float,
        },
        pk=("sender", "reference", "total", "seq"),
    )
    db.table("seen_pdus").create({"digest": str, "received_at": float}, pk="digest")
    # PDUs the modem gave us that could not be decoded: kept, visible, and deleted from the SIM
    db.table("inbox_rejects").create({"id": int, "pdu": str, "error": str, "received_at": float}, pk="id")


def _m012_remote_ids(db: sqlite_utils.Database) -> None:
    # an SMPP message id ("0000002a-…", 36 characters and more): the modem's TP-MR stays in `reference`
    db.table("outbox_parts").add_column("remote_id", str)
    db.table("outbox_parts").create_index(["remote_id"])
    # an SMSC's receipt can overtake its own submit_sm_resp: kept until the part is recorded
    db.table("early_receipts").create({"remote_id": str, "delivered": int, "received_at": float}, pk="remote_id")


def _m013_transports(db: sqlite_utils.Database) -> None:
    # holder: the transport that has the message in hand (null when none does); route: the one a reply
    # must go through (its question came in on it); carrier: the recipient's, guessed from the prefix
    for column in ("holder", "route", "carrier"):
        db.table("outbox").add_column(column, str)
    db.table("outbox_parts").add_column("transport", str)  # a report is matched through the sender
    db.table("inbox").add_column("via", str)
    db.table("inbound_parts").add_column("via", str)
    # a claim walks the queue in this order and stops at the first few it may take
    db.table("outbox").create_index(["status", "priority", "id"], index_name="outbox_claim")


def _m020_clock_verified(db: sqlite_utils.Database) -> None:
    # the last moment NTP or the network's time vouched for the clock: the floor a clock after a power
    # cut must not be behind (records are no floor: a wrong clock wrote them)
    db.table("clock_verified").create({"id": int, "at": float}, pk="id")


def _m030_sender_type(db: sqlite_utils.Database) -> None:
    # 1: the sender is a name (alphanumeric TON), whatever it spells; never a number to act on
    for table in ("inbox", "inbound_parts"):
        db.table(table).add_column("alphanumeric", int, not_null_default=0)


MIGRATIONS = [
    ("001_sms", _m001_sms),
    ("012_remote_ids", _m012_remote_ids),
    ("013_transports", _m013_transports),
    ("020_clock_verified", _m020_clock_verified),
    ("030_sms_sender_type", _m030_sender_type),
]
