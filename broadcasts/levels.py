"""The three levels of Thông tư 39/2020/TT-BTTTT on the one priority scale: thông thường waits as a draft
until the commune chooses (approves) it, ưu tiên items play in the order an official sets, khẩn cấp
plays at once on every output, pre-empting what plays."""

from __future__ import annotations

from typing import Any

import sqlite_utils

from gateway.core.errors import InvalidRequest, NotFound
from gateway.core.store import transaction

LEVELS = {"thuong": "Thông thường", "uu_tien": "Ưu tiên", "khan_cap": "Khẩn cấp"}


def ranked(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """The ưu tiên items still to play, in the officials' order (new ones last)."""
    return list(db.query(
        "select id, text, status, next_play_at, coalesce(rank, id) as rank from announcements"
        " where priority='uu_tien' and status in ('draft','scheduled') order by coalesce(rank, id), id"
    ))  # fmt: skip


def move(db: sqlite_utils.Database, announcement_id: int, direction: str) -> list[dict[str, Any]]:
    """One place up or down among the ưu tiên items; the order is then written 1, 2, 3…"""
    if direction not in ("up", "down"):
        raise InvalidRequest("direction phải là up hoặc down", field="direction")
    with transaction(db):
        items = ranked(db)
        ids = [r["id"] for r in items]
        if announcement_id not in ids:
            raise NotFound(f"Thông báo số {announcement_id} không phải tin ưu tiên đang chờ phát", id=announcement_id)
        i = ids.index(announcement_id)
        j = i - 1 if direction == "up" else i + 1
        if 0 <= j < len(ids):
            ids[i], ids[j] = ids[j], ids[i]
        for n, item_id in enumerate(ids, start=1):
            db.execute("update announcements set rank=? where id=?", [n, item_id])
    return ranked(db)
