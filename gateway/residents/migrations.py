"""The residents' tables: procedures, subscriptions, opt-outs, questions, choices, USSD sessions."""

from __future__ import annotations

import sqlite_utils


def _m002_residents(db: sqlite_utils.Database) -> None:
    db.table("procedures").create(
        {
            "key": str,
            "name": str,
            "synonyms": str,
            "answer": str,
            "answer_plain": str,
            "checked_on": str,
            "checked_by": str,
            "status": str,
            "updated_at": float,
        },
        pk="key",
    )
    # the hamlets table came here before the floor owned it (000_commune); kept for old databases
    db.table("hamlets").create({"id": int, "name": str, "folded": str}, pk="id", if_not_exists=True)
    db.table("hamlets").create_index(["folded"], unique=True, if_not_exists=True)
    db.table("subscriptions").create(
        {"number": str, "hamlet_id": int, "created_at": float},
        pk=("number", "hamlet_id"),
        foreign_keys=[("hamlet_id", "hamlets", "id")],
    )
    # HUY: every later broadcast skips these numbers until they subscribe again
    db.table("opt_outs").create({"number": str, "created_at": float}, pk="number")
    db.table("questions").create(
        {
            "id": int,
            "inbox_id": int,
            "sender": str,
            "text": str,
            "status": str,
            "created_at": float,
            "answered_at": float,
            "answer": str,
            "message_id": int,
        },
        pk="id",
    )
    db.table("questions").create_index(["status", "id"])
    # a numbered choice a resident was asked to answer with a digit
    db.table("choices").create({"number": str, "kind": str, "options": str, "created_at": float}, pk="number")
    db.table("ussd_sessions").create(
        {"session_id": str, "number": str, "started_at": float, "last_at": float}, pk="session_id"
    )
    db.table("inbox").add_column("routed_at", float)
    db.execute("update inbox set routed_at = received_at")
    db.table("outbox").create_index(["recipient", "source", "created_at"])


def _m009_examples(db: sqlite_utils.Database) -> None:
    # null until the seed adds its situations to a knowledge base made before them (kb.seed)
    db.table("procedures").add_column("situations", str)
    db.table("kb_lists").create({"name": str, "items": str}, pk="name")
    # what the officials taught: a question answered with a procedure (key), or "" = not a procedure
    db.table("examples").create(
        {"id": int, "text": str, "key": str, "question_id": int, "created_by": str, "created_at": float}, pk="id"
    )
    db.table("questions").add_column("procedure", str)


def _m015_published(db: sqlite_utils.Database) -> None:
    # what other packages may read of who asked for news and who said HUY (broadcasts' recipients),
    # so that their SQL never names these tables, which stay the residents' to change
    db.create_view("v_subscriptions", "select number, hamlet_id, created_at from subscriptions")
    db.create_view("v_opt_outs", "select number, created_at from opt_outs")


def _m029_auto_answers(db: sqlite_utils.Database) -> None:
    # what was answered without an official: shown on "Dân hỏi", where a wrong one is sent back to be taught
    db.table("auto_answers").create(
        {"id": int, "inbox_id": int, "sender": str, "text": str, "key": str, "created_at": float, "wrong": int},
        pk="id",
    )


def _m030_sender_type(db: sqlite_utils.Database) -> None:
    # 1: asked by a name (an alphanumeric sender), which can be read but never answered by SMS
    db.table("questions").add_column("alphanumeric", int, not_null_default=0)


MIGRATIONS = [
    ("002_residents", _m002_residents),
    ("009_examples", _m009_examples),
    ("015_residents_published", _m015_published),
    ("029_auto_answers", _m029_auto_answers),
    ("030_residents_sender_type", _m030_sender_type),
]
