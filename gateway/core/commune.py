"""The commune and its hamlets (thôn/bản): names, the folded form they are matched by, lookups."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils
from rapidfuzz.distance import Levenshtein

from gateway.core.errors import InvalidRequest
from gateway.core.store import transaction
from gateway.core.text import tokens


@dataclass(frozen=True)
class CommuneConfig:
    name: str = "xã"
    hamlets: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hamlet:
    id: int
    name: str
    folded: str


def fold_name(name: str) -> str:
    return " ".join(tokens(name))


def _m000_commune(db: sqlite_utils.Database) -> None:
    db.table("hamlets").create({"id": int, "name": str, "folded": str}, pk="id", if_not_exists=True)
    db.table("hamlets").create_index(["folded"], unique=True, if_not_exists=True)


MIGRATIONS = [("000_commune", _m000_commune)]


# ---- store functions ----


def seed_hamlets(db: sqlite_utils.Database, names: tuple[str, ...]) -> None:
    with transaction(db):
        for name in names:
            db.execute("insert or ignore into hamlets (name, folded) values (?, ?)", [name.strip(), fold_name(name)])


def hamlets(db: sqlite_utils.Database) -> list[Hamlet]:
    return [Hamlet(*r) for r in db.execute("select id, name, folded from hamlets order by name").fetchall()]


def hamlet_id(db: sqlite_utils.Database, name: str) -> int | None:
    """The id of a hamlet named as the commune wrote it (diacritics and case aside); None for ""."""
    if not name.strip():
        return None
    folded = fold_name(name)
    for h in hamlets(db):
        if h.folded == folded:
            return h.id
    near = match_hamlets(name, hamlets(db))
    # "Nà Phìm" is a typo of "Nà Phìn": say so, the person fixes one letter instead of searching
    hint = f" Có phải {' hoặc '.join(h.name for h in near[:3])}?" if near else ""
    raise InvalidRequest(f"thôn không có trong danh sách của xã: {name.strip()!r}.{hint}", field="hamlet")


def add_hamlet(db: sqlite_utils.Database, name: str) -> dict[str, Any]:
    if not name.strip():
        raise InvalidRequest("Thiếu tên thôn", field="name")
    with transaction(db):
        db.execute("insert or ignore into hamlets (name, folded) values (?,?)", [name.strip(), fold_name(name)])
    return next({"id": h.id, "name": h.name} for h in hamlets(db) if h.folded == fold_name(name))


def rename_hamlet(db: sqlite_utils.Database, hamlet: int, name: str) -> None:
    """A hamlet's new name (two hamlets the same but for diacritics cannot be told apart: refused)."""
    if not name.strip():
        raise InvalidRequest("Thiếu tên thôn", field="name")
    with transaction(db):
        taken = db.execute("select id from hamlets where folded=? and id<>?", [fold_name(name), hamlet]).fetchone()
        if taken:
            raise InvalidRequest(f"Đã có thôn tên {name.strip()!r}", field="name")
        if (
            db.execute(
                "update hamlets set name=?, folded=? where id=?", [name.strip(), fold_name(name), hamlet]
            ).rowcount
            == 0
        ):
            raise InvalidRequest(f"Không có thôn số {hamlet}", field="id")


def match_hamlets(query: str, options: list[Hamlet]) -> list[Hamlet]:
    """Exact folded name first, then names that start with the words given, then one or two edits."""
    q = fold_name(query)
    if not q:
        return []
    exact = [h for h in options if h.folded == q or h.folded.replace(" ", "") == q.replace(" ", "")]
    if exact:
        return exact
    prefix = [h for h in options if h.folded.startswith(q)]
    if prefix:
        return prefix
    budget = 1 if len(q) < 8 else 2
    return [h for h in options if Levenshtein.distance(h.folded, q, score_cutoff=budget + 1) <= budget]
