"""The knowledge base of procedures: seed file, validation (two SMS at most), SQLite storage."""

from __future__ import annotations

import json
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

    def reply(self, policy: Policy) -> str:
        return self.answer_plain if policy == "gsm7" else self.answer

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"synonyms": list(self.synonyms)}


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
    synonyms = raw.get("synonyms", [])
    if not isinstance(synonyms, list) or not all(isinstance(s, str) and s.strip() for s in synonyms):
        raise InvalidRequest("'synonyms' phải là danh sách chữ (list of strings)", field="synonyms")
    status = raw.get("status", "unconfirmed")
    if status not in STATUSES:
        raise InvalidRequest(f"'status' phải là {' hoặc '.join(STATUSES)}", field="status")
    p = Procedure(
        key=key,
        name=_text(raw, "name"),
        synonyms=tuple(s.strip() for s in synonyms),
        answer=_text(raw, "answer"),
        answer_plain=_text(raw, "answer_plain"),
        checked_on=_text(raw, "checked_on"),
        checked_by=_text(raw, "checked_by"),
        status=status,
    )
    check_fits(p.answer, "auto", "answer")
    check_fits(p.answer_plain, "gsm7", "answer_plain")
    return p


def check_fits(text: str, policy: Policy, field: str) -> None:
    prepared = prepare(text, policy)
    if prepared.segments > MAX_SEGMENTS:
        raise InvalidRequest(
            f"Câu trả lời quá dài: {prepared.segments} tin nhắn ({len(prepared.body)} ký tự, "
            f"{prepared.encoding.upper()}), tối đa {MAX_SEGMENTS} "
            f"(answer is {prepared.segments} segments, at most {MAX_SEGMENTS})",
            field=field,
            segments=prepared.segments,
            characters=len(prepared.body),
        )


@dataclass(frozen=True)
class Seed:
    menu: str
    procedures: tuple[Procedure, ...]


def load_seed() -> Seed:
    raw = tomllib.loads(resources.files("gateway.keywords").joinpath("procedures.toml").read_text(encoding="utf-8"))
    check_fits(raw["menu"], "auto", "menu")
    return Seed(raw["menu"], tuple(parse(p) for p in raw["procedure"]))


# ---- store functions ----


def _row(p: Procedure, now: float) -> dict[str, Any]:
    return asdict(p) | {"synonyms": json.dumps(list(p.synonyms), ensure_ascii=False), "updated_at": now}


def _from_row(row: dict[str, Any]) -> Procedure:
    fields = {k: row[k] for k in Procedure.__dataclass_fields__}
    fields["synonyms"] = tuple(json.loads(row["synonyms"]))
    return Procedure(**fields)


def seed(db: sqlite_utils.Database, procedures: tuple[Procedure, ...], now: float) -> int:
    with transaction(db):
        if db.execute("select count(*) from procedures").fetchone()[0]:
            return 0
        db.table("procedures").insert_all([_row(p, now) for p in procedures], pk="key")
    return len(procedures)


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
