"""The residents' store functions: subscriptions, opt-outs, reply counts, numbered choices, questions."""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils

from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.store import transaction
from gateway.sms import published


def subscribe(db: sqlite_utils.Database, number: str, hamlet_id: int, now: float) -> bool:
    with transaction(db):
        db.execute("delete from opt_outs where number=?", [number])
        cur = db.execute(
            "insert or ignore into subscriptions (number, hamlet_id, created_at) values (?,?,?)",
            [number, hamlet_id, now],
        )
        return cur.rowcount > 0


def unsubscribe(db: sqlite_utils.Database, number: str, now: float) -> bool:
    """Stop everything to this number; True only the first time, so the confirmation goes once."""
    with transaction(db):
        db.execute("delete from subscriptions where number=?", [number])
        cur = db.execute("insert or ignore into opt_outs (number, created_at) values (?,?)", [number, now])
        return cur.rowcount > 0


def opted_out(db: sqlite_utils.Database, number: str) -> bool:
    return db.execute("select 1 from opt_outs where number=?", [number]).fetchone() is not None


def replies_since(db: sqlite_utils.Database, number: str, kind: str, since: float) -> int:
    return published.messages_to(db, number, kind, since)


def set_choice(db: sqlite_utils.Database, number: str, kind: str, options: list[Any], now: float) -> None:
    with transaction(db):
        db.execute(
            "insert or replace into choices (number, kind, options, created_at) values (?,?,?,?)",
            [number, kind, json.dumps(options, ensure_ascii=False), now],
        )


def take_choice(db: sqlite_utils.Database, number: str, since: float) -> tuple[str, list[Any]] | None:
    with transaction(db):
        row = db.execute(
            "select kind, options from choices where number=? and created_at>=?", [number, since]
        ).fetchone()
        db.execute("delete from choices where number=?", [number])
    return None if row is None else (row[0], json.loads(row[1]))


def add_question(
    db: sqlite_utils.Database,
    inbox_id: int,
    sender: str,
    text: str,
    now: float,
    alphanumeric: bool = False,
    daily: int = 0,
) -> int | None:
    """The officials' question; None when this sender already has `daily` of them in 24 hours (0: no
    limit): the SMS stays in the inbox, the page stays the other residents' too."""
    with transaction(db):
        if daily:
            recent = db.execute(
                "select count(*) from questions where sender=? and created_at>=?", [sender, now - 86400]
            ).fetchone()[0]
            if recent >= daily:
                return None
        cur = db.execute(
            "insert into questions (inbox_id, sender, text, status, created_at, alphanumeric)"
            " values (?,?,?,'open',?,?)",
            [inbox_id, sender, text, now, int(alphanumeric)],
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def add_auto_answer(db: sqlite_utils.Database, inbox_id: int, sender: str, text: str, key: str, now: float) -> None:
    with transaction(db):
        db.execute(
            "insert into auto_answers (inbox_id, sender, text, key, created_at, wrong) values (?,?,?,?,?,0)",
            [inbox_id, sender, text, key, now],
        )
        # the newest thousand are enough to look back on; older ones are the examples' and the log's
        db.execute("delete from auto_answers where id <= (select max(id) - 1000 from auto_answers)")


def auto_answers(db: sqlite_utils.Database, limit: int) -> list[dict[str, Any]]:
    return list(db.query("select * from auto_answers order by id desc limit ?", [limit]))


def teach_again(db: sqlite_utils.Database, auto_id: int, now: float) -> int:
    """A wrong automatic answer back among the open questions (once), to be answered and taught."""
    with transaction(db):
        row = db.execute("select inbox_id, sender, text, wrong from auto_answers where id=?", [auto_id]).fetchone()
        if row is None:
            raise NotFound(f"Không có câu tự trả lời số {auto_id}", id=auto_id)
        if row[3]:
            raise InvalidRequest("Câu này đã được chuyển để dạy lại rồi: xem ở Chưa trả lời.", field="id")
        db.execute("update auto_answers set wrong=1 where id=?", [auto_id])
        cur = db.execute(
            "insert into questions (inbox_id, sender, text, status, created_at) values (?,?,?,'open',?)",
            [row[0], row[1], row[2], now],
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def list_questions(db: sqlite_utils.Database, status: str | None, limit: int) -> list[dict[str, Any]]:
    if status:
        return list(db.query("select * from questions where status=? order by id desc limit ?", [status, limit]))
    return list(db.query("select * from questions order by id desc limit ?", [limit]))


def get_question(db: sqlite_utils.Database, question_id: int) -> dict[str, Any]:
    rows = list(db.query("select * from questions where id=?", [question_id]))
    if not rows:
        raise NotFound(f"Không có câu hỏi số {question_id} (unknown question)", id=question_id)
    return rows[0]


def mark_answered(
    db: sqlite_utils.Database, question_id: int, answer: str, message_id: int, now: float, procedure: str | None = None
) -> None:
    with transaction(db):
        db.execute(
            "update questions set status='answered', answer=?, message_id=?, answered_at=?, procedure=? where id=?",
            [answer, message_id, now, procedure, question_id],
        )


def mark_procedure(db: sqlite_utils.Database, question_id: int, procedure: str) -> None:
    with transaction(db):
        db.execute("update questions set procedure=? where id=?", [procedure, question_id])


def hamlets_with_subscribers(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "select h.id, h.name, count(s.number) as subscribers from hamlets h"
            " left join subscriptions s on s.hamlet_id = h.id group by h.id order by h.name"
        )
    )


def open_questions(db: sqlite_utils.Database) -> int:
    return int(db.execute("select count(*) from questions where status='open'").fetchone()[0])


def recent_texts(db: sqlite_utils.Database, limit: int) -> list[str]:
    """What residents asked lately and what the officials taught, newest first: what a new teaching is
    tried on before it is saved."""
    rows = db.execute(
        "select text from (select text, created_at from questions union all select text, created_at from examples)"
        " order by created_at desc limit ?",
        [limit],
    ).fetchall()
    return [r[0] for r in rows]
