"""The knowledge base of procedures: seed file, validation (two SMS at most), SQLite storage."""

from __future__ import annotations

import hashlib
import json
import logging
import tomllib
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import sqlite_utils

from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.store import transaction
from gateway.sms.encoding import Policy, prepare

MAX_SEGMENTS = 2
STATUSES = ("checked", "unconfirmed")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Procedure:
    key: str
    name: str
    synonyms: tuple[str, ...]
    answer: str
    answer_plain: str
    checked_on: str
    checked_by: str
    status: str
    situations: tuple[str, ...] = ()  # how residents tell what happened: "vợ mới sinh", "giấy bị rách"

    def reply(self, policy: Policy) -> str:
        return self.answer_plain if policy == "gsm7" else self.answer

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"synonyms": list(self.synonyms), "situations": list(self.situations)}


def _text(raw: dict[str, Any], field: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"Thiếu '{field}' (missing {field})", field=field)
    return value.strip()


def parse(raw: dict[str, Any], key: str | None = None) -> Procedure:
    """A procedure from a dict (seed file or API body), validated: every answer fits two SMS."""
    key = (key or _text(raw, "key")).upper()
    if not key.isalpha() or not 2 <= len(key) <= 3:
        raise InvalidRequest("Mã thủ tục phải là 2–3 chữ cái, ví dụ KS (key: 2-3 letters)", field="key")
    synonyms = _phrases(raw, "synonyms")
    situations = _phrases(raw, "situations")
    status = raw.get("status", "unconfirmed")
    if status not in STATUSES:
        raise InvalidRequest(f"'status' phải là {' hoặc '.join(STATUSES)}", field="status")
    p = Procedure(
        key=key,
        name=_text(raw, "name"),
        synonyms=synonyms,
        answer=_text(raw, "answer"),
        answer_plain=_text(raw, "answer_plain"),
        checked_on=_text(raw, "checked_on"),
        checked_by=_text(raw, "checked_by"),
        status=status,
        situations=situations,
    )
    check_fits(p.answer, "auto", "answer")
    check_fits(p.answer_plain, "gsm7", "answer_plain")
    return p


MAX_PHRASES = 100
MAX_PHRASE = 100


def _phrases(raw: dict[str, Any], field: str) -> tuple[str, ...]:
    items = raw.get(field, [])
    if not isinstance(items, list) or not all(isinstance(s, str) and s.strip() for s in items):
        raise InvalidRequest(f"'{field}' phải là danh sách chữ (list of strings)", field=field)
    if len(items) > MAX_PHRASES or any(len(s) > MAX_PHRASE for s in items):
        raise InvalidRequest(f"'{field}': tối đa {MAX_PHRASES} cụm, mỗi cụm tối đa {MAX_PHRASE} ký tự", field=field)
    return tuple(s.strip() for s in items)


def check_fits(text: str, policy: Policy, field: str) -> None:
    prepared = prepare(text, policy)
    if prepared.segments > MAX_SEGMENTS:
        alphabet = "bảng chữ không dấu" if prepared.encoding == "gsm7" else "bảng chữ có dấu"
        raise InvalidRequest(
            f"Câu trả lời quá dài: {prepared.segments} tin nhắn ({len(prepared.body)} ký tự, {alphabet}), "
            f"tối đa {MAX_SEGMENTS} tin: hãy viết ngắn lại.",
            field=field,
            segments=prepared.segments,
            characters=len(prepared.body),
        )


@dataclass(frozen=True)
class Seed:
    menu: str
    procedures: tuple[Procedure, ...]
    not_questions: tuple[str, ...]
    not_ours: tuple[str, ...] = ()  # topics the commune answers by hand: to the officials, "xã sẽ trả lời"
    negative: tuple[str, ...] = ()  # cues that keep a procedure word from answering (adverts, "không phải")


def load_seed() -> Seed:
    raw = tomllib.loads(resources.files("gateway.residents").joinpath("procedures.toml").read_text(encoding="utf-8"))
    check_fits(raw["menu"], "auto", "menu")
    cues = _phrases(raw, "not_questions")
    procedures = tuple(parse(p) for p in raw["procedure"])
    return Seed(raw["menu"], procedures, cues, _phrases(raw, "not_ours"), _phrases(raw, "negative"))


# ---- store functions ----


def _row(p: Procedure, now: float) -> dict[str, Any]:
    return asdict(p) | {
        "synonyms": json.dumps(list(p.synonyms), ensure_ascii=False),
        "situations": json.dumps(list(p.situations), ensure_ascii=False),
        "updated_at": now,
    }


def _from_row(row: dict[str, Any]) -> Procedure:
    fields = {k: row[k] for k in Procedure.__dataclass_fields__}
    fields["synonyms"] = tuple(json.loads(row["synonyms"]))
    fields["situations"] = tuple(json.loads(row["situations"] or "[]"))
    return Procedure(**fields)


def seed(db: sqlite_utils.Database, seed: Seed, now: float) -> int:
    """Fill an empty knowledge base; in one made by an earlier release, bring the words the officials
    never changed up to this release's (their own edits are kept, and logged)."""
    with transaction(db):
        db.execute(
            "insert or ignore into kb_lists (name, items) values ('not_questions', ?)",
            [json.dumps(list(seed.not_questions), ensure_ascii=False)],
        )
        if db.execute("select count(*) from procedures").fetchone()[0]:
            _refresh(db, seed)
            return 0
        db.table("procedures").insert_all([_row(p, now) for p in seed.procedures], pk="key")
    return len(seed.procedures)


def _digest(items: Any) -> str:
    return hashlib.sha256(json.dumps(list(items), ensure_ascii=False).encode()).hexdigest()[:16]


def _refresh(db: sqlite_utils.Database, seed: Seed) -> None:
    """Each procedure's synonyms and situations, and the not-questions list, still as an earlier
    release shipped them (shipped.json: their digests in every release) take this release's."""
    shipped = json.loads(resources.files("gateway.residents").joinpath("shipped.json").read_text(encoding="utf-8"))
    for p in seed.procedures:
        row = db.execute("select synonyms, situations from procedures where key=?", [p.key]).fetchone()
        if row is None:
            continue
        for column, now_shipped, old in (("synonyms", p.synonyms, row[0]), ("situations", p.situations, row[1])):
            if old is not None and _digest(json.loads(old)) not in shipped[column].get(p.key, []):
                log.info("knowledge base: %s's %s were changed by the commune: kept", p.key, column)
                continue
            db.execute(
                f"update procedures set {column}=? where key=?",
                [json.dumps(list(now_shipped), ensure_ascii=False), p.key],
            )
    row = db.execute("select items from kb_lists where name='not_questions'").fetchone()
    if _digest(json.loads(row[0])) in shipped["not_questions"]:
        db.execute(
            "update kb_lists set items=? where name='not_questions'",
            [json.dumps(list(seed.not_questions), ensure_ascii=False)],
        )
    else:
        log.info("knowledge base: the not-questions list was changed by the commune: kept")


def not_questions(db: sqlite_utils.Database) -> tuple[str, ...]:
    row = db.execute("select items from kb_lists where name='not_questions'").fetchone()
    return tuple(json.loads(row[0])) if row else ()


def set_not_questions(db: sqlite_utils.Database, items: tuple[str, ...]) -> None:
    with transaction(db):
        db.execute(
            "insert or replace into kb_lists (name, items) values ('not_questions', ?)",
            [json.dumps(list(items), ensure_ascii=False)],
        )


def parse_not_questions(raw: object) -> tuple[str, ...]:
    return _phrases({"not_questions": raw}, "not_questions")


# ---- the officials' examples: questions answered with a procedure, or marked as not one ----

MAX_EXAMPLE = 500


def add_example(db: sqlite_utils.Database, text: str, key: str, question_id: int | None, by: str, now: float) -> int:
    with transaction(db):
        cur = db.execute(
            "insert into examples (text, key, question_id, created_by, created_at) values (?,?,?,?,?)",
            [text[:MAX_EXAMPLE], key, question_id, by, now],
        )
    assert cur.lastrowid is not None
    return cur.lastrowid


def examples(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(db.query("select * from examples order by id desc"))


def remove_example(db: sqlite_utils.Database, example_id: int) -> None:
    with transaction(db):
        if db.execute("delete from examples where id=?", [example_id]).rowcount == 0:
            raise NotFound(f"Không có ví dụ số {example_id} (unknown example)", id=example_id)


def all_procedures(db: sqlite_utils.Database) -> list[Procedure]:
    return [_from_row(r) for r in db.query("select * from procedures order by rowid")]


def get(db: sqlite_utils.Database, key: str) -> Procedure:
    rows = list(db.query("select * from procedures where key=?", [key.upper()]))
    if not rows:
        raise NotFound(f"Không có thủ tục mã {key!r} (unknown procedure)", key=key)
    return _from_row(rows[0])


def upsert(db: sqlite_utils.Database, p: Procedure, now: float) -> None:
    with transaction(db):
        db.table("procedures").upsert(_row(p, now), pk="key")
