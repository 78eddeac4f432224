"""Accounts: users with roles, argon2 passwords, lockout, per-user API tokens, and the audit log."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gateway.core.commune import hamlet_id as find_hamlet
from gateway.core.errors import InvalidRequest, LoginRefused, NotFound
from gateway.core.principal import SYSTEM as SYSTEM
from gateway.core.principal import User
from gateway.core.store import transaction

ROLES = ("admin", "official", "hamlet_head")
ROLE_NAMES = {"admin": "Quản trị", "official": "Cán bộ xã", "hamlet_head": "Trưởng thôn"}
ADDRESS_LIMIT = 30  # failures from one address in the lock window before it is refused outright
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("not a password of anyone's")


def _user(db: sqlite_utils.Database, where: str, arg: Any) -> User | None:
    row = db.execute(
        "select u.id, u.username, u.role, u.hamlet_id, h.name from users u left join hamlets h on h.id = u.hamlet_id"
        f" where {where}",
        [arg],
    ).fetchone()
    return None if row is None else User(*row)


def get(db: sqlite_utils.Database, user_id: int) -> User | None:
    return _user(db, "u.id=?", user_id)


def add_user(
    db: sqlite_utils.Database, username: str, password: str, role: str, hamlet: str | None, now: float
) -> User:
    username = username.strip()
    if not username or not username.replace(".", "").replace("_", "").isalnum():
        raise InvalidRequest("Tên đăng nhập chỉ gồm chữ, số, dấu chấm, gạch dưới", field="username")
    if role not in ROLES:
        raise InvalidRequest(f"Vai trò phải là {', '.join(ROLES)}", field="role")
    if len(password) < 8:
        raise InvalidRequest("Mật khẩu cần ít nhất 8 ký tự", field="password")
    hamlet_id = None
    if role == "hamlet_head":
        hamlet_id = find_hamlet(db, hamlet or "")
        if hamlet_id is None:
            raise InvalidRequest("Trưởng thôn cần có thôn", field="hamlet")
    with transaction(db):
        if db.execute("select 1 from users where username=?", [username]).fetchone():
            raise InvalidRequest(f"Đã có tài khoản {username!r}", field="username")
        db.execute(
            "insert into users (username, password_hash, role, hamlet_id, created_at, failed) values (?,?,?,?,?,0)",
            [username, _hasher.hash(password), role, hamlet_id, now],
        )
    user = _user(db, "u.username=?", username)
    assert user is not None
    return user


def users(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return list(
        db.query(
            "select u.id, u.username, u.role, h.name as hamlet, u.locked_until from users u"
            " left join hamlets h on h.id = u.hamlet_id order by u.username"
        )
    )


def login(
    db: sqlite_utils.Database, username: str, password: str, address: str, now: float, lock_after: int,
    lock_seconds: float,
) -> User:  # fmt: skip
    """Check a password; ten wrong in a row lock the account for a while, and an address that
    keeps failing is refused whatever account it tries."""
    with transaction(db):
        recent = db.execute(
            "select count(*) from login_failures where address=? and at>=?", [address, now - lock_seconds]
        ).fetchone()[0]
        if recent >= ADDRESS_LIMIT:
            raise LoginRefused("Quá nhiều lần đăng nhập sai từ máy này; thử lại sau ít phút")
        row = db.execute(
            "select id, password_hash, failed, locked_until from users where username=?", [username.strip()]
        ).fetchone()
        if row is not None and row[3] and row[3] > now:
            until = datetime.fromtimestamp(row[3]).strftime("%H:%M")
            raise LoginRefused(f"Tài khoản đang bị khoá đến {until} vì nhập sai mật khẩu nhiều lần")
        try:
            # an unknown name costs the same argon2 work as a known one: timing tells no names
            ok = _hasher.verify(row[1] if row is not None else _DUMMY, password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            db.execute("insert into login_failures (address, at) values (?,?)", [address, now])
            if row is not None:
                failed = row[2] + 1
                locked = now + lock_seconds if failed >= lock_after else None
                db.execute(
                    "update users set failed=?, locked_until=? where id=?",
                    [0 if locked else failed, locked, row[0]],
                )
        else:
            db.execute("update users set failed=0, locked_until=null where id=?", [row[0]])
    if not ok:  # raised after the commit: the failure must count
        raise LoginRefused("Sai tên đăng nhập hoặc mật khẩu")
    user = get(db, row[0])
    assert user is not None
    return user


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
    row = db.execute("select user_id from api_tokens where token_hash=?", [_token_hash(token)]).fetchone()
    return None if row is None else get(db, row[0])


def audit(db: sqlite_utils.Database, user: str, action: str, detail: str, now: float) -> None:
    with transaction(db):
        db.execute("insert into audit (at, user, action, detail) values (?,?,?,?)", [now, user, action, detail[:1000]])


def audit_log(db: sqlite_utils.Database, limit: int = 200) -> list[dict[str, Any]]:
    return list(db.query("select * from audit order by id desc limit ?", [limit]))


def user_by_name(db: sqlite_utils.Database, username: str) -> User:
    user = _user(db, "u.username=?", username)
    if user is None:
        raise NotFound(f"Không có tài khoản {username!r}", username=username)
    return user
