"""People: contacts, hamlets, groups, CSV import, and who a target reaches (opt-outs removed)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from gateway.core import phone
from gateway.core.commune import fold_name, hamlet_id
from gateway.core.errors import Forbidden, InvalidRequest, LimitReached, NotFound
from gateway.core.principal import User
from gateway.core.store import transaction
from gateway.sms import published as sms
from gateway.sms.encoding import Prepared

DAY = 86400.0
ROLES = ("resident", "hamlet_head", "health_worker", "official")
ROLE_NAMES = {"resident": "Người dân", "hamlet_head": "Trưởng thôn", "health_worker": "Y tế thôn", "official": "Cán bộ"}
ROLE_WORDS = {
    "dan": "resident",
    "nguoi dan": "resident",
    "resident": "resident",
    "truong thon": "hamlet_head",
    "truong ban": "hamlet_head",
    "hamlet_head": "hamlet_head",
    "y te": "health_worker",
    "can bo y te": "health_worker",
    "y te thon": "health_worker",
    "health_worker": "health_worker",
    "can bo": "official",
    "can bo xa": "official",
    "official": "official",
}
COLUMNS = {
    "name": ("ten", "ho ten", "ho va ten", "name"),
    "number": ("so dien thoai", "sdt", "dien thoai", "so dt", "number", "phone"),
    "hamlet": ("thon", "ban", "thon ban", "hamlet"),
    "roles": ("vai tro", "chuc vu", "roles", "role"),
}


@dataclass(frozen=True)
class Person:
    number: str
    name: str = ""
    hamlet: str = ""


@dataclass
class ImportReport:
    imported: int = 0
    merged: int = 0
    converted: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def parse_roles(raw: str) -> list[str]:
    out = []
    for part in raw.replace(";", ",").replace("/", ",").split(","):
        word = fold_name(part)
        if not word:
            continue
        role = ROLE_WORDS.get(word)
        if role is None:
            raise InvalidRequest(f"vai trò không rõ: {part.strip()!r} (roles: {', '.join(ROLES)})", field="roles")
        if role not in out:
            out.append(role)
    return out


def valid_number(raw: str) -> tuple[str, bool]:
    new, converted = phone.convert_old(raw)
    return phone.normalise(new), converted


def _upsert(db: sqlite_utils.Database, number: str, name: str, hid: int | None, roles: list[str], now: float) -> bool:
    """Insert, or merge into the contact with this number (roles added). True when it merged."""
    row = db.execute("select id, roles, hamlet_id from contacts where number=?", [number]).fetchone()
    if row is None:
        db.execute(
            "insert into contacts (name, number, hamlet_id, roles, created_at, updated_at) values (?,?,?,?,?,?)",
            [name, number, hid, ",".join(roles), now, now],
        )
        return False
    merged_roles = list(dict.fromkeys([*filter(None, row[1].split(",")), *roles]))
    db.execute(
        "update contacts set name=?, hamlet_id=?, roles=?, updated_at=? where id=?",
        [name, hid if hid is not None else row[2], ",".join(merged_roles), now, row[0]],
    )
    return True


def import_csv(db: sqlite_utils.Database, data: bytes, now: float) -> ImportReport:
    """Every valid row in one transaction, every other row reported with its reason; duplicates merged."""
    try:
        text = data.decode("utf-8-sig") if data.startswith(b"\xef\xbb\xbf") else _decode(data)
    except UnicodeDecodeError as e:
        raise InvalidRequest(
            f"Tệp CSV có ký tự hỏng ở byte {e.start}: hãy lưu lại tệp dạng CSV UTF-8 (invalid UTF-8)", field="file"
        ) from None
    sample = text[:2048]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as e:
        raise InvalidRequest(f"Tệp CSV không đọc được: {e}", field="file") from None
    if not rows:
        raise InvalidRequest("Tệp CSV trống (empty file)")
    header = [fold_name(h) for h in rows[0]]
    where = {}
    for key, names in COLUMNS.items():
        for i, h in enumerate(header):
            if h in names:
                where[key] = i
    if "number" not in where or "name" not in where:
        raise InvalidRequest(
            "Dòng đầu phải có cột 'Tên' và 'Số điện thoại' (header needs name and number columns)",
            field="file",
        )
    report = ImportReport()
    seen: dict[str, int] = {}
    with transaction(db):
        for line, row in enumerate(rows[1:], start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                if len(row) < len(header):
                    raise InvalidRequest(f"thiếu cột: có {len(row)}, cần {len(header)}")
                cell = {k: row[i].strip() for k, i in where.items()}
                if not cell["name"]:
                    raise InvalidRequest("thiếu tên")
                number, converted = valid_number(cell["number"])
                hid = hamlet_id(db, cell.get("hamlet", ""))
                roles = parse_roles(cell.get("roles", "")) or ["resident"]
            except InvalidRequest as e:
                who = row[where["name"]].strip() if len(row) > where["name"] else ""
                report.rejected.append({"line": line, "row": row, "name": who, "reason": e.message})
                continue
            if converted:
                report.converted.append({"line": line, "from": cell["number"], "to": number})
            merged = _upsert(db, number, cell["name"], hid, roles, now)
            if number in seen or merged:
                report.merged += 1
            else:
                report.imported += 1
            seen[number] = line
    return report


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("Tệp phải là UTF-8 (Excel: Lưu thành CSV UTF-8)", field="file") from None


def add_contact(db: sqlite_utils.Database, raw: dict[str, Any], now: float) -> dict[str, Any]:
    name = str(raw.get("name", "")).strip()
    if not name:
        raise InvalidRequest("Thiếu tên (name missing)", field="name")
    number, _ = valid_number(str(raw.get("number", "")))
    roles = raw.get("roles", ["resident"])
    if isinstance(roles, str):
        roles = parse_roles(roles)
    if not isinstance(roles, list) or not all(r in ROLES for r in roles):
        raise InvalidRequest(f"roles phải trong {', '.join(ROLES)}", field="roles")
    with transaction(db):
        _upsert(db, number, name, hamlet_id(db, str(raw.get("hamlet", ""))), roles, now)
    return contact_by_number(db, number)


def update_contact(db: sqlite_utils.Database, contact_id: int, raw: dict[str, Any], now: float) -> dict[str, Any]:
    """A contact's name, hamlet, roles or number (a new SIM: the groups they are in stay theirs)."""
    row = db.execute("select number from contacts where id=?", [contact_id]).fetchone()
    if row is None:
        raise NotFound(f"Không có liên hệ số {contact_id}", id=contact_id)
    number = valid_number(str(raw["number"]))[0] if raw.get("number") else row[0]
    if number != row[0]:
        other = db.execute("select name from contacts where number=?", [number]).fetchone()
        if other is not None:
            raise InvalidRequest(f"Số {number} đã là của {other[0]} trong danh bạ.", field="number")
        with transaction(db):
            db.execute("update contacts set number=? where id=?", [number, contact_id])
    return add_contact(db, raw | {"number": number}, now)


def names_for(db: sqlite_utils.Database, numbers: list[str]) -> dict[str, str]:
    """The phone book's name of each number that is in it."""
    found = db.execute(
        "select number, name from contacts where number in (select value from json_each(?))", [json.dumps(numbers)]
    )
    return dict(found.fetchall())


def contact_by_id(db: sqlite_utils.Database, contact_id: int) -> dict[str, Any]:
    row = db.execute("select number from contacts where id=?", [contact_id]).fetchone()
    if row is None:
        raise NotFound(f"Không có liên hệ số {contact_id}", id=contact_id)
    return contact_by_number(db, row[0])


def contact_by_number(db: sqlite_utils.Database, number: str) -> dict[str, Any]:
    rows = list_contacts(db, number=number)
    if not rows:
        raise NotFound(f"Không có liên hệ {number}", number=number)
    return rows[0]


def list_contacts(db: sqlite_utils.Database, number: str | None = None) -> list[dict[str, Any]]:
    sql = (
        "select c.id, c.name, c.number, h.name as hamlet, c.roles from contacts c"
        " left join hamlets h on h.id = c.hamlet_id"
    )
    args: list[Any] = []
    if number:
        sql += " where c.number = ?"
        args.append(number)
    out = []
    for r in db.query(sql + " order by c.name", args):
        r["roles"] = [x for x in r["roles"].split(",") if x]
        out.append(r)
    return out


def delete_contact(db: sqlite_utils.Database, contact_id: int) -> dict[str, Any]:
    """Deleted, with its groups' memberships; the contact as it was."""
    with transaction(db):
        contact = contact_by_id(db, contact_id)
        db.execute("delete from group_members where contact_id=?", [contact_id])
        db.execute("delete from contacts where id=?", [contact_id])
    return contact


def save_group(db: sqlite_utils.Database, raw: dict[str, Any]) -> dict[str, Any]:
    """A static group lists numbers; a dynamic one is a target re-read at each send."""
    name = str(raw.get("name", "")).strip()
    if not name:
        raise InvalidRequest("Thiếu tên nhóm", field="name")
    with transaction(db):
        if "members" in raw:
            members = raw["members"]
            if not isinstance(members, list):
                raise InvalidRequest("members phải là danh sách số", field="members")
            ids = []
            for m in members:
                number, _ = valid_number(str(m))
                ids.append(contact_by_number(db, number)["id"])
            db.execute("insert or replace into groups (name, kind, target) values (?, 'static', '{}')", [name])
            gid = db.execute("select id from groups where name=?", [name]).fetchone()[0]
            db.execute("delete from group_members where group_id=?", [gid])
            db.conn.executemany("insert into group_members values (?,?)", [(gid, i) for i in ids])
        else:
            target = check_target(db, raw.get("target"))
            db.execute(
                "insert or replace into groups (name, kind, target) values (?, 'dynamic', ?)",
                [name, json.dumps(target, ensure_ascii=False)],
            )
    return {"name": name}


def list_groups(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    out = []
    for g in db.query("select * from groups order by name"):
        out.append(
            {
                "name": g["name"],
                "kind": g["kind"],
                "target": json.loads(g["target"]),
                "recipients": len(resolve(db, {"groups": [g["name"]]})),
            }
        )
    return out


def check_target(db: sqlite_utils.Database, raw: Any) -> dict[str, Any]:
    """{"hamlets": [...], "roles": [...], "groups": [...], "numbers": [...], "subscribers": bool}."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidRequest("Cần chọn người nhận: hamlets, roles, groups hoặc numbers", field="to")
    known = {"hamlets", "roles", "groups", "numbers", "subscribers"}
    if set(raw) - known:
        raise InvalidRequest(f"không hiểu {sorted(set(raw) - known)}; dùng {sorted(known)}", field="to")
    for key in ("hamlets", "roles", "groups", "numbers"):
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidRequest(f"'{key}' phải là danh sách", field="to")
    for h in raw.get("hamlets", []):
        hamlet_id(db, h)
    for r in raw.get("roles", []):
        if r not in ROLES:
            raise InvalidRequest(f"vai trò {r!r} không có; dùng {', '.join(ROLES)}", field="to")
    for g in raw.get("groups", []):
        if db.execute("select 1 from groups where name=?", [g]).fetchone() is None:
            raise NotFound(f"Không có nhóm {g!r}", group=g)
    for n in raw.get("numbers", []):
        valid_number(n)
    return dict(raw)


def opted_out(db: sqlite_utils.Database) -> set[str]:
    """Everyone who sent HUY (the residents' view of their opt-outs)."""
    return {r[0] for r in db.execute("select number from v_opt_outs")}


def resolve(db: sqlite_utils.Database, target: dict[str, Any], *, keep_opted: bool = False) -> list[Person]:
    """Everyone a target reaches, each number once, without those who sent HUY (unless kept)."""
    people: dict[str, Person] = {}
    hamlet_ids = [hamlet_id(db, h) for h in target.get("hamlets", [])]
    roles = set(target.get("roles", []))
    base = (
        "select c.number, c.name, coalesce(h.name, ''), c.roles, c.hamlet_id from contacts c"
        " left join hamlets h on h.id = c.hamlet_id"
    )
    if hamlet_ids or roles:
        for number, name, hamlet, contact_roles, hid in db.execute(base):
            if hamlet_ids and hid not in hamlet_ids:
                continue
            if roles and not roles & set(contact_roles.split(",")):
                continue
            people.setdefault(number, Person(number, name, hamlet))
    if target.get("subscribers") and hamlet_ids:
        marks = ",".join("?" * len(hamlet_ids))
        for number, hamlet in db.execute(
            f"select s.number, h.name from v_subscriptions s join hamlets h on h.id = s.hamlet_id"
            f" where s.hamlet_id in ({marks})",
            hamlet_ids,
        ):
            people.setdefault(number, Person(number, "", hamlet))
    for g in target.get("groups", []):
        group = db.execute("select id, kind, target from groups where name=?", [g]).fetchone()
        if group is None:
            continue
        if group[1] == "dynamic":
            for p in resolve(db, json.loads(group[2])):
                people.setdefault(p.number, p)
        else:
            for number, name, hamlet, _, _ in db.execute(
                base + " join group_members m on m.contact_id = c.id where m.group_id=?", [group[0]]
            ):
                people.setdefault(number, Person(number, name, hamlet))
    for raw in target.get("numbers", []):
        number, _ = valid_number(raw)
        if number not in people:
            known = list_contacts(db, number=number)
            people[number] = Person(number, known[0]["name"], known[0]["hamlet"] or "") if known else Person(number)
    if keep_opted:
        return list(people.values())
    opted = opted_out(db)
    return [p for p in people.values() if p.number not in opted]


def send_typed(
    db: sqlite_utils.Database, user: User, recipients: list[str], prepared: Prepared, priority: str, now: float,
    daily_segments: int,
) -> tuple[list[int], list[str]]:  # fmt: skip
    """Numbers typed by hand (the API), in one transaction: those who sent HUY are skipped unless it
    is an alert, and the user's segments in 24 hours stay within `daily_segments` (0 = no ceiling).
    Returns (queued ids, skipped numbers)."""
    with transaction(db):
        opted = set() if priority == "alert" else opted_out(db)
        keep = [n for n in recipients if n not in opted]
        skipped = [n for n in recipients if n in opted]
        source = f"api:{user.username}"
        if daily_segments and keep:
            used = used_today(db, user.username, now)
            wanted = prepared.segments * len(keep)
            if used + wanted > daily_segments:
                raise LimitReached(
                    f"Vượt hạn mức {daily_segments} tin một ngày của tài khoản: đã gửi {used}, lần này {wanted}",
                    field="to", used=used, wanted=wanted, limit=daily_segments,
                )  # fmt: skip
        ids = sms.enqueue(db, keep, prepared, sms.PRIORITIES[priority], source, now) if keep else []
    return ids, skipped


def used_today(db: sqlite_utils.Database, username: str, now: float) -> int:
    """The segments an account queued in 24 hours, by every path: the API, and the reminders and
    console sends (a console send is a reminder fired at once) it made."""
    used = sms.segments_from(db, f"api:{username}", now - DAY)
    for (rid,) in db.execute("select id from reminders where created_by=?", [username]).fetchall():
        used += sms.segments_from(db, f"reminder:{rid}", now - DAY)
    return used


def check_own_target(db: sqlite_utils.Database, user: User, target: Any) -> None:
    """A hamlet head sends only to their own hamlet."""
    if not user.is_head:
        return
    if not isinstance(target, dict) or target.get("hamlets") != [user.hamlet] or set(target) - {"hamlets", "roles"}:
        raise Forbidden(f"Trưởng thôn chỉ được gửi cho thôn {user.hamlet}", field="to")


def check_own_numbers(db: sqlite_utils.Database, user: User, recipients: list[str]) -> None:
    own = {p.number for p in resolve(db, {"hamlets": [user.hamlet]}, keep_opted=True)} if user.hamlet else set()
    outside = [n for n in recipients if n not in own]
    if outside:
        raise Forbidden(
            f"Trưởng thôn chỉ được gửi cho người trong thôn {user.hamlet}: {', '.join(outside)}", field="to"
        )


# ---- what was sent: the console's "Tin đã gửi" ----

HISTORY_PAGE = 100
HAMLET_KINDS = ("api", "send", "reminder", "alert")  # broadcasts to people, not answers to one of them


def sent_history(
    db: sqlite_utils.Database,
    since: float,
    until: float,
    status: str | None,
    source: str | None,
    hamlet_id: int | None,
    before_id: int | None,
) -> list[dict[str, Any]]:
    """Messages created in [since, until), newest first, each with its parts' delivery and the name
    of the contact it went to; a hamlet head's only to the people of their hamlet."""
    recipients = _numbers_of(db, hamlet_id) if hamlet_id is not None else None
    # a head sees what was sent to the hamlet's lists, never a resident's private answers (officials'
    # replies to questions, automatic answers, balance checks)
    kinds = HAMLET_KINDS if hamlet_id is not None else None
    rows = sms.history(
        db, since, until, status=status, source=source, recipients=recipients, before_id=before_id,
        limit=HISTORY_PAGE, kinds=kinds,
    )  # fmt: skip
    names = _names_of(db, {r["recipient"] for r in rows})
    return [r | {"name": names.get(r["recipient"])} for r in rows]


def _numbers_of(db: sqlite_utils.Database, hamlet_id: int) -> list[str]:
    return [r[0] for r in db.execute("select number from contacts where hamlet_id=?", [hamlet_id])]


def _names_of(db: sqlite_utils.Database, numbers: set[str]) -> dict[str, str]:
    rows = db.execute(
        "select number, name from contacts where number in (select value from json_each(?))",
        [json.dumps(sorted(numbers))],
    )
    return dict(rows.fetchall())


def hamlet_overview(db: sqlite_utils.Database, hamlet_id: int, since: float) -> dict[str, int]:
    """A hamlet head's first page: their people, subscribers, today's messages and alerts waiting."""

    def one(sql: str, *args: Any) -> int:
        return int(db.execute(sql, args).fetchone()[0])

    numbers = _numbers_of(db, hamlet_id)
    return {
        "contacts": len(numbers),
        "subscribers": one("select count(*) from v_subscriptions where hamlet_id=?", hamlet_id),
        "sent_today": sms.count_to(db, numbers, since),
        "failed_today": sms.count_to(db, numbers, since, "failed"),
        "alerts_waiting": one(
            "select count(distinct r.alert_id) from alert_recipients r join alerts a on a.id = r.alert_id"
            " join contacts c on c.number = r.number where c.hamlet_id=? and a.status='open'"
            " and r.confirmed_at is null", hamlet_id,
        ),
    }  # fmt: skip


def hamlets_summary(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Each hamlet with whom it reaches: its contacts, its heads, its subscribers."""
    return list(
        db.query(
            "select h.id, h.name,"
            " (select count(*) from contacts c where c.hamlet_id = h.id) as contacts,"
            " (select count(*) from contacts c where c.hamlet_id = h.id"
            "  and ',' || c.roles || ',' like '%,hamlet_head,%') as heads,"
            " (select count(*) from v_subscriptions s where s.hamlet_id = h.id) as subscribers"
            " from hamlets h order by h.name"
        )
    )
