"""Accounts: users with roles, argon2 passwords, lockout, per-user API tokens, and the audit log."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.core import phone
from gateway.core.commune import hamlet_id as find_hamlet
from gateway.core.errors import InvalidRequest, LoginRefused, NotFound
from gateway.core.principal import SYSTEM as SYSTEM
from gateway.core.principal import User
from gateway.core.store import transaction

ROLES = ("admin", "official", "hamlet_head")
ROLE_NAMES = {"admin": "Quản trị", "official": "Cán bộ xã", "hamlet_head": "Trưởng thôn"}
MAX_NAME = 64  # a username, and what of a typed one is kept in the logs
ADDRESS_LIMIT = 30  # failures from one address in the lock window before it is refused outright
_hasher = PasswordHasher()


@functools.cache
def _dummy() -> str:
    return str(_hasher.hash("not a password of anyone's"))


def _user(db: sqlite_utils.Database, where: str, arg: Any) -> User | None:
    row = db.execute(
        "select u.id, u.username, u.role, u.hamlet_id, h.name, u.number from users u"
        " left join hamlets h on h.id = u.hamlet_id"
        f" where {where}",
        [arg],
    ).fetchone()
    return None if row is None else User(*row)


def get(db: sqlite_utils.Database, user_id: int) -> User | None:
    return _user(db, "u.id=?", user_id)


def add_user(
    db: sqlite_utils.Database,
    username: str,
    password: str,
    role: str,
    hamlet: str | None,
    now: float,
    number: str | None = None,
) -> User:
    """An account, the password hashed on the calling thread (the command line, tests)."""
    check_password(password)
    return insert_user(db, username, hash_password(password), role, hamlet, now, number)


def hash_password(password: str) -> str:
    """CPU only (argon2 takes ~0.1 s): the console runs it off the store thread."""
    check_password(password)
    return str(_hasher.hash(password))


def own_number(number: str | None) -> str | None:
    """A person's own phone, written any usual way, as +84…; empty is none."""
    if not number or not number.strip():
        return None
    try:
        return phone.normalise(number)
    except InvalidRequest as e:
        raise InvalidRequest(e.message, field="number") from None


def set_number(db: sqlite_utils.Database, user_id: int, number: str | None) -> None:
    with transaction(db):
        db.execute("update users set number=? where id=?", [own_number(number), user_id])


def insert_user(
    db: sqlite_utils.Database,
    username: str,
    password_hash: str,
    role: str,
    hamlet: str | None,
    now: float,
    number: str | None = None,
) -> User:
    number = own_number(number)
    username = username.strip()
    if not username or not username.replace(".", "").replace("_", "").isalnum():
        raise InvalidRequest("Tên đăng nhập chỉ gồm chữ, số, dấu chấm, gạch dưới", field="username")
    if role not in ROLES:
        raise InvalidRequest(f"Vai trò phải là {', '.join(ROLES)}", field="role")
    if len(username) > MAX_NAME:
        raise InvalidRequest(f"Tên đăng nhập dài nhất {MAX_NAME} ký tự", field="username")
    hamlet_id = None
    if role == "hamlet_head":
        hamlet_id = find_hamlet(db, hamlet or "")
        if hamlet_id is None:
            raise InvalidRequest("Trưởng thôn cần có thôn", field="hamlet")
    with transaction(db):
        # "Admin1" beside "admin1" would be two accounts nobody can tell apart
        if db.execute("select 1 from users where username=? collate nocase", [username]).fetchone():
            raise InvalidRequest(f"Đã có tài khoản {username!r}", field="username")
        db.execute(
            "insert into users (username, password_hash, role, hamlet_id, created_at, failed, number)"
            " values (?,?,?,?,?,0,?)",
            [username, password_hash, role, hamlet_id, now, number],
        )
    user = _user(db, "u.username=?", username)
    assert user is not None
    return user


def count_users(db: sqlite_utils.Database) -> int:
    return int(db.execute("select count(*) from users").fetchone()[0])


def check_password(password: str) -> None:
    if len(password) < 8:
        raise InvalidRequest("Mật khẩu cần ít nhất 8 ký tự", field="password")
    if len(password) > 200:
        raise InvalidRequest("Mật khẩu dài nhất 200 ký tự", field="password")


def users(db: sqlite_utils.Database, now: float, lock_after: int, lock_seconds: float) -> list[dict[str, Any]]:
    """Every account, with whether it is disabled and until when some address is locked out of it."""
    rows = list(
        db.query(
            "select u.id, u.username, u.role, h.name as hamlet, u.disabled, u.number from users u"
            " left join hamlets h on h.id = u.hamlet_id order by u.username collate nocase"
        )
    )
    locks = dict(
        db.execute(
            "select username, max(last) from (select username collate nocase as username, max(at) as last"
            " from login_failures where at>=? group by username collate nocase, address having count(*)>=?)"
            " group by username collate nocase",
            [now - lock_seconds, lock_after],
        ).fetchall()
    )
    folded = {k.casefold(): v for k, v in locks.items() if k}
    for row in rows:
        last = folded.get(row["username"].casefold())
        row["locked_until"] = None if last is None else last + lock_seconds
    return rows


@dataclass(frozen=True)
class Attempt:
    """A login under way: who it names (if anyone) and the hash to check the password against."""

    username: str
    address: str
    user_id: int | None
    password_hash: str
    disabled: bool


def login_attempt(
    db: sqlite_utils.Database, username: str, address: str, now: float, lock_after: int, lock_seconds: float,
    tz: tzinfo,
) -> Attempt:  # fmt: skip
    """Step 1 of a login, refused at once when locked, else counted. Wrong passwords lock that account from that
    address only (anyone elsewhere, the owner included, still logs in), and an address that keeps
    failing is refused whatever it tries."""
    username = username.strip()[:MAX_NAME]
    with transaction(db):
        attempt = _check(db, username, address, now, lock_after, lock_seconds, tz)
        # counted now, in the transaction that checked: attempts that arrive together each see the
        # ones before them (a success takes them all back), so the lock holds for parallel logins too
        db.execute("insert into login_failures (address, username, at) values (?,?,?)", [address, username, now])
    return attempt


def _check(
    db: sqlite_utils.Database, username: str, address: str, now: float, lock_after: int, lock_seconds: float,
    tz: tzinfo,
) -> Attempt:  # fmt: skip
    recent = db.execute(
        "select count(*) from login_failures where address=? and at>=?", [address, now - lock_seconds]
    ).fetchone()[0]
    if recent >= ADDRESS_LIMIT:
        raise LoginRefused("Quá nhiều lần đăng nhập sai từ máy này; thử lại sau ít phút", throttled=True)
    failed, last = db.execute(
        "select count(*), max(at) from login_failures where address=? and username=? collate nocase and at>=?",
        [address, username, now - lock_seconds],
    ).fetchone()
    if failed >= lock_after:
        until = datetime.fromtimestamp(last + lock_seconds, tz).strftime("%H:%M")
        raise LoginRefused(
            f"Tài khoản đang bị khoá trên máy này đến {until} vì nhập sai mật khẩu nhiều lần", throttled=True
        )
    row = db.execute(
        "select id, password_hash, disabled from users where username=? collate nocase", [username]
    ).fetchone()
    if row is None:
        return Attempt(username, address, None, "", False)
    return Attempt(username, address, row[0], row[1], bool(row[2]))


def verify(password_hash: str, password: str) -> bool:
    """Step 2, CPU only (argon2 takes ~0.1 s): run it off the store thread. An unknown name costs the
    same argon2 work as a known one: timing tells no names."""
    try:
        return bool(_hasher.verify(password_hash or _dummy(), password)) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def login_result(db: sqlite_utils.Database, attempt: Attempt, ok: bool, now: float) -> User:
    """Step 3: the attempt stays counted as a failure (or the address's count for this account is
    cleared), then the user."""
    ok = ok and attempt.user_id is not None
    with transaction(db):
        if not ok:
            # counted already by login_attempt, before the password was checked. Only the lock window
            # counts: a week of failures is plenty to keep, and the table stays small
            db.execute("delete from login_failures where at < ?", [now - 7 * 86400])
        else:
            db.execute(
                "delete from login_failures where address=? and username=? collate nocase",
                [attempt.address, attempt.username],
            )
    if not ok or attempt.user_id is None:  # raised after the commit: the failure must count
        raise LoginRefused("Sai tên đăng nhập hoặc mật khẩu")
    if attempt.disabled:
        raise LoginRefused("Tài khoản này đã bị khoá bởi quản trị; hãy hỏi quản trị xã")
    user = get(db, attempt.user_id)
    assert user is not None
    return user


def login(
    db: sqlite_utils.Database, username: str, password: str, address: str, now: float, lock_after: int,
    lock_seconds: float, tz: tzinfo,
) -> User:  # fmt: skip
    """The three steps at once, on the calling thread (the command line, tests)."""
    attempt = login_attempt(db, username, address, now, lock_after, lock_seconds, tz)
    return login_result(db, attempt, verify(attempt.password_hash, password), now)


def unlock(db: sqlite_utils.Database, user_id: int) -> None:
    """An admin lifts every lockout of this account (wrong passwords from any address are forgotten)."""
    with transaction(db):
        db.execute(
            "delete from login_failures where username = (select username from users where id=?) collate nocase",
            [user_id],
        )


def set_disabled(db: sqlite_utils.Database, user_id: int, disabled: bool) -> None:
    """A disabled account cannot log in, and its sessions and API tokens stop working at once."""
    with transaction(db):
        db.execute("update users set disabled=? where id=?", [int(disabled), user_id])
        db.execute("delete from sessions where user_id=?", [user_id])


def password_hash(db: sqlite_utils.Database, user_id: int) -> str:
    row = db.execute("select password_hash from users where id=?", [user_id]).fetchone()
    return str(row[0]) if row else ""


def set_password(db: sqlite_utils.Database, user_id: int, password_hash: str) -> None:
    """A new password (hashed by `hash_password`) ends every session of the account: a stolen
    cookie stops working."""
    with transaction(db):
        db.execute("update users set password_hash=? where id=?", [password_hash, user_id])
        db.execute("delete from sessions where user_id=?", [user_id])


# ---- console sessions: the cookie carries only a random id; logging out deletes it here ----


def start_session(db: sqlite_utils.Database, user_id: int, now: float, lifetime: float) -> str:
    session_id = secrets.token_urlsafe(32)
    with transaction(db):
        db.execute("delete from sessions where expires_at<?", [now])
        db.execute(
            "insert into sessions (id_hash, user_id, created_at, expires_at) values (?,?,?,?)",
            [_token_hash(session_id), user_id, now, now + lifetime],
        )
    return session_id


def session_user(db: sqlite_utils.Database, session_id: str, now: float) -> User | None:
    row = db.execute(
        "select s.user_id from sessions s join users u on u.id = s.user_id"
        " where s.id_hash=? and s.expires_at>=? and u.disabled=0",
        [_token_hash(session_id), now],
    ).fetchone()
    return None if row is None else get(db, row[0])


def end_session(db: sqlite_utils.Database, session_id: str) -> None:
    with transaction(db):
        db.execute("delete from sessions where id_hash=?", [_token_hash(session_id)])


def new_token(db: sqlite_utils.Database, user_id: int, label: str, now: float) -> str:
    token = secrets.token_urlsafe(24)
    with transaction(db):
        db.execute(
            "insert into api_tokens (user_id, token_hash, label, created_at) values (?,?,?,?)",
            [user_id, _token_hash(token), label, now],
        )
    return token


def _token_hash(token: str) -> str:
    # tokens are long and random: a plain hash is enough, and lets us look them up
    return hashlib.sha256(token.encode()).hexdigest()


def user_for_token(db: sqlite_utils.Database, token: str) -> User | None:
    row = db.execute(
        "select t.user_id from api_tokens t join users u on u.id = t.user_id where t.token_hash=? and u.disabled=0",
        [_token_hash(token)],
    ).fetchone()
    return None if row is None else get(db, row[0])


def tokens(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "select t.id, t.label, t.created_at, u.username from api_tokens t join users u on u.id = t.user_id"
            " order by t.id"
        )
    )


def revoke_token(db: sqlite_utils.Database, token_id: int) -> None:
    with transaction(db):
        if db.execute("delete from api_tokens where id=?", [token_id]).rowcount == 0:
            raise NotFound(f"Không có token số {token_id}", id=token_id)


def audit(db: sqlite_utils.Database, user: str, action: str, detail: str, now: float) -> None:
    # whatever a caller typed as a username or detail, one row stays small
    with transaction(db):
        db.execute(
            "insert into audit (at, user, action, detail) values (?,?,?,?)",
            [now, user[:MAX_NAME], action[:200], detail[:1000]],
        )


def prune_audit(db: sqlite_utils.Database, before: float) -> int:
    """Audit rows older than `before` deleted ([web] audit_days); how many."""
    with transaction(db):
        return int(db.execute("delete from audit where at < ?", [before]).rowcount)


def audit_log(
    db: sqlite_utils.Database,
    limit: int = 100,
    before: int | None = None,
    *,
    user: str = "",
    action: str = "",
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """The newest `limit` rows (older than the row `before`: the next page), of one person, with an
    action containing `action`, in [since, until)."""
    where, args = ["1=1"], []
    for clause, value in (("id<?", before), ("user=?", user or None), ("instr(lower(action), lower(?))>0",
                          action or None), ("at>=?", since), ("at<?", until)):  # fmt: skip
        if value is not None:
            where.append(clause)
            args.append(value)
    return list(db.query(f"select * from audit where {' and '.join(where)} order by id desc limit ?", [*args, limit]))


def audit_people(db: sqlite_utils.Database) -> list[str]:
    """Everyone who appears in the audit log, for its filter."""
    return [r[0] for r in db.execute("select distinct user from audit order by user")]


def user_by_name(db: sqlite_utils.Database, username: str) -> User:
    user = _user(db, "u.username=?", username)
    if user is None:
        raise NotFound(f"Không có tài khoản {username!r}", username=username)
    return user
