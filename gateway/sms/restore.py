"""A restore of a backup: the SMS facts of the replaced database carried across (a part the network
took is never sent again; an accepted message or a received SMS is not lost)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# the tables that hold what happened on the network; the replaced database's rows are the newer truth
FACTS = ("outbox", "outbox_parts", "early_receipts", "inbox", "inbound_parts", "seen_pdus", "inbox_rejects")


@dataclass(frozen=True)
class Since:
    """What the replaced database holds that the backup does not."""

    sent: int  # parts the network took since the backup
    accepted: int  # messages accepted since the backup
    received: int  # SMS received since the backup

    def lines(self) -> list[str]:
        return [
            f"  {self.sent} phần tin đã gửi sau bản sao (parts sent since the backup): không gửi lại",
            f"  {self.accepted} tin nhận gửi sau bản sao (messages accepted since): giữ lại, gửi tiếp",
            f"  {self.received} tin nhắn đến sau bản sao (SMS received since): giữ lại",
        ]


def _has(db: sqlite3.Connection, schema: str, table: str) -> bool:
    row = db.execute(f"select 1 from {schema}.sqlite_master where type='table' and name=?", [table]).fetchone()
    return row is not None


def since(db: sqlite3.Connection) -> Since:
    """`db` is the backup, the replaced database attached as `replaced`."""

    def count(sql: str, *tables: str) -> int:
        if not all(_has(db, s, t) for s in ("main", "replaced") for t in tables):
            return 0
        return int(db.execute(sql).fetchone()[0])

    return Since(
        sent=count("select count(*) from replaced.outbox_parts r where not exists (select 1 from main.outbox_parts m"
                   " where m.message_id = r.message_id and m.part = r.part)", "outbox_parts"),
        accepted=count("select count(*) from replaced.outbox where id not in (select id from main.outbox)", "outbox"),
        received=count("select count(*) from replaced.inbox where id not in (select id from main.inbox)", "inbox"),
    )  # fmt: skip


def carry(db: sqlite3.Connection) -> list[str]:
    """Copy the SMS facts of `replaced` into the backup: every row, the replaced one winning (a message
    sent since stays sent). The tables carried."""
    done = []
    for table in FACTS:
        if not (_has(db, "main", table) and _has(db, "replaced", table)):
            continue
        ours = {r[1] for r in db.execute(f"pragma main.table_info({table})")}
        theirs = [r[1] for r in db.execute(f"pragma replaced.table_info({table})") if r[1] in ours]
        cols = ", ".join(f'"{c}"' for c in theirs)
        db.execute(f"insert or replace into main.{table} ({cols}) select {cols} from replaced.{table}")
        done.append(table)
    return done
