"""The residents' SMS service: commands, keyword answers, numbered choices, questions, cost guards."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from rapidfuzz.distance import Levenshtein

from gateway.config import Config
from gateway.errors import InvalidRequest, NotFound
from gateway.keywords import kb
from gateway.keywords.matcher import Matcher
from gateway.keywords.normalise import tokens
from gateway.notify import Notifier
from gateway.sms import numbers
from gateway.sms.encoding import Policy, Prepared, fold, prepare
from gateway.sms.outbox import Outbox
from gateway.store import Store

log = logging.getLogger(__name__)
DAY = 86400.0

HELP_WORDS = {"tro giup", "trogiup", "hd", "help", "?", "menu", "huong dan"}
STOP_WORDS = {"huy", "tc", "stop", "tu choi", "huy dk", "huy dang ky"}
SUBSCRIBE = re.compile(r"^\s*(?:dk|dang ky|dangky)\s+(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Hamlet:
    id: int
    name: str
    folded: str


def fold_name(name: str) -> str:
    return " ".join(tokens(name))


# ---- store functions ----


def seed_hamlets(db: sqlite_utils.Database, names: tuple[str, ...]) -> None:
    with db.conn:
        for name in names:
            db.execute("insert or ignore into hamlets (name, folded) values (?, ?)", [name.strip(), fold_name(name)])


def hamlets(db: sqlite_utils.Database) -> list[Hamlet]:
    return [Hamlet(*r) for r in db.execute("select id, name, folded from hamlets order by name").fetchall()]


def subscribe(db: sqlite_utils.Database, number: str, hamlet_id: int, now: float) -> bool:
    with db.conn:
        db.execute("delete from opt_outs where number=?", [number])
        cur = db.execute(
            "insert or ignore into subscriptions (number, hamlet_id, created_at) values (?,?,?)",
            [number, hamlet_id, now],
        )
        return cur.rowcount > 0


def unsubscribe(db: sqlite_utils.Database, number: str, now: float) -> bool:
    """Stop everything to this number; True only the first time, so the confirmation goes once."""
    with db.conn:
        db.execute("delete from subscriptions where number=?", [number])
        cur = db.execute("insert or ignore into opt_outs (number, created_at) values (?,?)", [number, now])
        return cur.rowcount > 0


def opted_out(db: sqlite_utils.Database, number: str) -> bool:
    return db.execute("select 1 from opt_outs where number=?", [number]).fetchone() is not None


def replies_since(db: sqlite_utils.Database, number: str, kind: str, since: float) -> int:
    return int(
        db.execute(
            "select count(*) from outbox where recipient=? and source like ? and created_at>=?",
            [number, kind, since],
        ).fetchone()[0]
    )


def set_choice(db: sqlite_utils.Database, number: str, kind: str, options: list[Any], now: float) -> None:
    with db.conn:
        db.execute(
            "insert or replace into choices (number, kind, options, created_at) values (?,?,?,?)",
            [number, kind, json.dumps(options, ensure_ascii=False), now],
        )


def take_choice(db: sqlite_utils.Database, number: str, since: float) -> tuple[str, list[Any]] | None:
    with db.conn:
        row = db.execute(
            "select kind, options from choices where number=? and created_at>=?", [number, since]
        ).fetchone()
        db.execute("delete from choices where number=?", [number])
    return None if row is None else (row[0], json.loads(row[1]))


def add_question(db: sqlite_utils.Database, inbox_id: int, sender: str, text: str, now: float) -> int:
    with db.conn:
        cur = db.execute(
            "insert into questions (inbox_id, sender, text, status, created_at) values (?,?,?,'open',?)",
            [inbox_id, sender, text, now],
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


def mark_answered(db: sqlite_utils.Database, question_id: int, answer: str, message_id: int, now: float) -> None:
    with db.conn:
        db.execute(
            "update questions set status='answered', answer=?, message_id=?, answered_at=? where id=?",
            [answer, message_id, now, question_id],
        )


def unrouted(db: sqlite_utils.Database) -> list[int]:
    return [r[0] for r in db.execute("select id from inbox where routed_at is null order by id")]


def inbox_row(db: sqlite_utils.Database, inbox_id: int) -> dict[str, Any] | None:
    rows = list(db.query("select * from inbox where id=?", [inbox_id]))
    return rows[0] if rows else None


def mark_routed(db: sqlite_utils.Database, inbox_id: int, now: float) -> None:
    with db.conn:
        db.execute("update inbox set routed_at=? where id=? and routed_at is null", [now, inbox_id])


# ---- hamlet matching ----


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


# ---- the service ----


class Residents:
    """Answers what residents send; everything it sends is an automatic reply, capped per number."""

    def __init__(
        self, store: Store, outbox: Outbox, config: Config, notifier: Notifier, clock: Callable[[], float]
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.config = config
        self.notifier = notifier
        self.clock = clock
        self.policy: Policy = config.sms.encoding
        self.menu = ""
        self.matcher = Matcher([])
        self.procedures: dict[str, kb.Procedure] = {}
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        # consulted first, in order; one that returns True has taken the message (alert confirmations)
        self.interceptors: list[Callable[[str, str], Awaitable[bool]]] = []

    async def start(self) -> None:
        seed = kb.load_seed()
        self.menu = seed.menu
        await self.store.call(kb.seed, seed.procedures, self.clock())
        await self.store.call(seed_hamlets, self.config.commune.hamlets)
        await self.reload()
        for inbox_id in await self.store.call(unrouted):
            self._queue.put_nowait(inbox_id)

    async def reload(self) -> None:
        procedures = await self.store.call(kb.all_procedures)
        self.procedures = {p.key: p for p in procedures}
        self.matcher = Matcher(procedures)

    async def message_stored(self, inbox_id: int) -> None:
        """Inbox hook: queued, so that answering never holds up the modem."""
        self._queue.put_nowait(inbox_id)

    async def run(self) -> None:
        while True:
            inbox_id = await self._queue.get()
            try:
                row = await self.store.call(inbox_row, inbox_id)
                if row is not None and row["routed_at"] is None:
                    await self.handle(row["sender"], row["text"], inbox_id)
                    # marked after: a crash in between answers once more rather than never
                    await self.store.call(mark_routed, inbox_id, self.clock())
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("failed to answer inbox message %d; it stays in the inbox", inbox_id)
            finally:
                self.notifier.notify()

    async def handle(self, sender: str, text: str, inbox_id: int) -> None:
        for intercept in self.interceptors:
            if await intercept(sender, text):
                return
        number = as_number(sender)
        words = " ".join(tokens(text))
        if text.strip() == "?" or words in HELP_WORDS:
            await self.reply(sender, self.menu, "menu")
            return
        if words in STOP_WORDS:
            first_time = number is not None and await self.store.call(unsubscribe, number, self.clock())
            if first_time:
                await self.reply(sender, self._t("Đã ngừng nhận tin của xã. Nhắn DK <tên thôn> để nhận lại."), "stop")
            return
        if words.isdigit() and number:
            choice = await self.store.call(take_choice, number, self.clock() - self.config.residents.choice_timeout)
            if choice is not None:
                await self._resolve(sender, number, choice, int(words))
                return
        nfc, folded = unicodedata.normalize("NFC", text), fold(text)
        m = SUBSCRIBE.match(folded)
        # Vietnamese letters fold one to one, so the span also cuts the words as the resident wrote them
        query = (nfc if len(nfc) == len(folded) else folded)[m.start(1) : m.end(1)] if m else ""
        if m and await self._subscribe(sender, number, query, fall_through=True):
            return
        found = self.matcher.match(text)
        if len(found.keys) == 1:
            await self.answer(sender, found.keys[0])
        elif found.keys:
            await self._ask(sender, number, "procedure", list(found.keys))
        else:
            await self.store.call(add_question, inbox_id, sender, text, self.clock())
            if await self.store.call(replies_since, sender, "auto:menu", self.clock() - DAY) == 0:
                await self.reply(sender, self.menu, "menu")

    async def answer(self, sender: str, key: str) -> None:
        await self.reply(sender, self.procedures[key].reply(self.policy), f"answer:{key}")

    async def _subscribe(self, sender: str, number: str | None, query: str, *, fall_through: bool) -> bool:
        options = await self.store.call(hamlets)
        found = match_hamlets(query, options)
        if not found and fall_through and self.matcher.match(query).keys:
            return False  # "DK khai sinh": a procedure, not a hamlet
        if number is None:
            return True
        if len(found) == 1:
            await self.store.call(subscribe, number, found[0].id, self.clock())
            await self.reply(sender, self._t(f"Đã đăng ký nhận tin thôn {found[0].name}. Nhắn HUY để ngừng."), "dk")
        elif found:
            await self._ask(sender, number, "hamlet", [h.id for h in found[:5]])
        else:
            names = ", ".join(h.name for h in options[:12]) or "(xã chưa nhập danh sách thôn)"
            await self.reply(sender, self._t(f"Không thấy thôn '{query.strip()[:20]}'. Các thôn: {names}"), "dk")
        return True

    async def _ask(self, sender: str, number: str | None, kind: str, options: list[Any]) -> None:
        if number is None:
            return
        await self.store.call(set_choice, number, kind, options, self.clock())
        if kind == "procedure":
            names = [self.procedures[k].name for k in options]
            head = "Bạn hỏi thủ tục nào? Nhắn số:"
        else:
            by_id = {h.id: h.name for h in await self.store.call(hamlets)}
            names = [by_id[i] for i in options]
            head = "Thôn nào? Nhắn số:"
        lines = ", ".join(f"{i} {name}" for i, name in enumerate(names, start=1))
        await self.reply(sender, self._t(f"{head} {lines}"), "choice")

    async def _resolve(self, sender: str, number: str, choice: tuple[str, list[Any]], digit: int) -> None:
        kind, options = choice
        if not 1 <= digit <= len(options):
            await self.store.call(set_choice, number, kind, options, self.clock())
            await self.reply(sender, self._t(f"Chọn số từ 1 đến {len(options)}."), "choice")
            return
        picked = options[digit - 1]
        if kind == "procedure":
            await self.answer(sender, str(picked))
        else:
            by_id = {h.id: h for h in await self.store.call(hamlets)}
            hamlet = by_id[int(picked)]
            await self._subscribe(sender, number, hamlet.name, fall_through=False)

    def _t(self, text: str) -> str:
        return fold(text) if self.policy == "gsm7" else text

    async def reply(self, sender: str, text: str, kind: str) -> list[int]:
        """An automatic reply: never to a short code or a name, and at most the daily cap per number."""
        if not numbers.can_reply(sender):
            log.info("no automatic reply to %r (short code or alphanumeric sender)", sender)
            return []
        sent = await self.store.call(replies_since, sender, "auto:%", self.clock() - DAY)
        if sent >= self.config.residents.daily_reply_cap:
            log.warning("daily reply cap reached for %s: %s not sent", sender, kind)
            return []
        return await self.outbox.enqueue([sender], fit(text, self.policy), priority="reply", source=f"auto:{kind}")

    async def answer_question(self, question_id: int, text: str) -> dict[str, Any]:
        question = await self.store.call(get_question, question_id)
        if not numbers.can_reply(question["sender"]):
            raise InvalidRequest(f"Không thể trả lời người gửi {question['sender']!r} (short code or name)", field="id")
        prepared = prepare(text, self.policy)
        (message_id,) = await self.outbox.enqueue(
            [question["sender"]], prepared, priority="reply", source=f"question:{question_id}"
        )
        await self.store.call(mark_answered, question_id, text, message_id, self.clock())
        self.notifier.notify()
        return {"question": question_id, "message_id": message_id, "segments": prepared.segments}


def fit(text: str, policy: Policy) -> Prepared:
    """Our own replies (lists of hamlets, choices) are cut to two segments rather than cost three."""
    prepared = prepare(text, policy)
    if prepared.segments <= kb.MAX_SEGMENTS:
        return prepared
    text = fold(text)
    while (prepared := prepare(text, "gsm7")).segments > kb.MAX_SEGMENTS:
        text = text[: len(text) - 10].rstrip(" ,") + "..."
    return prepared


def as_number(sender: str) -> str | None:
    try:
        return numbers.normalise(sender)
    except InvalidRequest:
        return None
