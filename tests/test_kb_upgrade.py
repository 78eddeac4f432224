"""A commune upgrading Loa gets this release's knowledge where it never changed the words, and keeps its own."""

from __future__ import annotations

import json

import sqlite_utils

from gateway.app import MIGRATIONS
from gateway.core.store import migrate
from gateway.residents import kb

# KT (death registration) as the previous release shipped it, before the life events were reworked
OLD_KT_SYNONYMS = [
    "khai tu",
    "dang ky khai tu",
    "bao tu",
    "giay bao tu",
    "nguoi mat",
    "qua doi",
    "tu vong",
    "nguoi chet",
]
OLD_KT_SITUATIONS = ["mat roi", "moi mat", "vua mat", "da mat", "mat hom qua", "mat sang nay", "mat dem qua",
                     "qua doi", "tu tran", "chet roi", "vua chet", "mat tuan truoc"]  # fmt: skip


def _old_database() -> sqlite_utils.Database:
    db = sqlite_utils.Database(memory=True)
    migrate(db, MIGRATIONS)
    seed = kb.load_seed()
    kb.seed(db, seed, 1.0)
    for key in ("KT", "KS"):
        db.execute(
            "update procedures set synonyms=?, situations=? where key=?",
            [json.dumps(OLD_KT_SYNONYMS), json.dumps(OLD_KT_SITUATIONS), key],
        )
    return db


def _words(db: sqlite_utils.Database, key: str) -> tuple[list[str], list[str]]:
    row = db.execute("select synonyms, situations from procedures where key=?", [key]).fetchone()
    return json.loads(row[0]), json.loads(row[1])


def test_words_an_earlier_release_shipped_are_brought_up_to_this_one() -> None:
    db = _old_database()
    kb.seed(db, kb.load_seed(), 2.0)
    new = next(p for p in kb.load_seed().procedures if p.key == "KT")
    assert _words(db, "KT") == (list(new.synonyms), list(new.situations))
    assert tuple(json.loads(db.execute("select items from kb_lists").fetchone()[0])) == kb.load_seed().not_questions


def test_words_the_commune_changed_are_kept() -> None:
    db = _old_database()
    # words no release shipped: an official wrote them
    mine = (["giay khai sinh cua chau"], ["be moi sinh"])
    db.execute(
        "update procedures set synonyms=?, situations=? where key='KS'", [json.dumps(mine[0]), json.dumps(mine[1])]
    )
    db.execute("update kb_lists set items=? where name='not_questions'", [json.dumps(["cam on xa"])])
    kb.seed(db, kb.load_seed(), 2.0)
    assert _words(db, "KS") == (mine[0], mine[1])
    assert json.loads(db.execute("select items from kb_lists").fetchone()[0]) == ["cam on xa"]
