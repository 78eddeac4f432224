"""The SIM's credit: asked by USSD on a schedule (or, where USSD is refused or silent, by the carrier's
balance-by-SMS query, whose reply is taken before the officials' inbox), the amount read from the
carrier's words, kept, and the officials warned by SMS when it runs low."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import sqlite_utils

from gateway.core import phone
from gateway.core.clock import Clock
from gateway.core.errors import LoaError, ModemError
from gateway.core.notify import Notifier
from gateway.core.store import Store, transaction
from gateway.core.text import fold
from gateway.sms.encoding import prepare
from gateway.sms.outbox import Outbox
from gateway.sms.queue import PRIORITIES, enqueue
from gateway.sms.router import Inbound
from gateway.sms.transport import Transport
from schedules.scheduler import Job

log = logging.getLogger(__name__)
# the main account's amount: after its name (TKC, TK chinh, tai khoan goc/chinh, so du, balance),
# digits with . or , between thousands, then the currency (d, đ, VND, dong)
_MAIN = re.compile(
    r"(?:tkc|tk\s*chinh|tai\s*khoan\s*(?:goc|chinh)|so\s*du|balance|main)\D{0,12}?"
    r"(\d{1,3}(?:[.,]\d{3})+|\d+)\s*(?:d\b|dong|vnd)",
)
_ANY = re.compile(r"(\d{1,3}(?:[.,]\d{3})+|\d+)\s*(?:d\b|dong|vnd)")
_WARN_EVERY = 86400.0
RETRY = 1800.0
FAILING = 5  # messages refused within the hour that make the dashboard say sending is failing


@dataclass(frozen=True)
class CreditConfig:
    ussd_code: str = ""  # e.g. "*101#" (Viettel, VinaPhone, MobiFone); "" = not checked
    check_hours: float = 12.0
    warn_below: int = 20000  # đồng
    warn_to: tuple[str, ...] = ()  # officials' numbers told by SMS when the credit is low
    monthly_segments: int = 0  # the commune's budget of SMS segments a month; 0 = none
    # where USSD is refused or times out (LTE without USSD over IMS): the carrier's balance-by-SMS query,
    # `sms_text` texted to the short code `sms_number`; its reply from that number within `sms_wait`
    # seconds is read as the answer. No default: each carrier's code and wording are its own.
    sms_number: str = ""
    sms_text: str = ""
    sms_wait: float = 900.0


def amount(answer: str) -> int | None:
    """The main account's đồng in a carrier's USSD answer, or None when no amount can be read."""
    text = fold(answer).lower()
    m = _MAIN.search(text) or _ANY.search(text)
    if m is None:
        return None
    return int(re.sub(r"[.,]", "", m.group(1)))


def _dong(value: int) -> str:
    return f"{value:,}".replace(",", ".")  # 25.000: the Vietnamese thousands separator


def _m008_credit(db: sqlite_utils.Database) -> None:
    db.table("credit_checks").create(
        {"id": int, "at": float, "answer": str, "amount": int, "error": str, "warned": int}, pk="id"
    )


def _m014_credit_per_sim(db: sqlite_utils.Database) -> None:
    # each modem of a pool has its own SIM and balance; rows from before are the first modem's (null)
    db.table("credit_checks").add_column("modem", str)


MIGRATIONS = [("008_credit", _m008_credit), ("014_credit_per_sim", _m014_credit_per_sim)]


def _sim(modem: str | None, first: bool) -> tuple[str, list[Any]]:
    """The rows of one modem's SIM: the first modem's include those from before the pool (null)."""
    if modem is None:
        return "modem is null", []
    return "(modem = ? or (? and modem is null))", [modem, int(first)]


def record(
    db: sqlite_utils.Database, at: float, answer: str, found: int | None, error: str, warn_below: int,
    modem: str | None = None, first: bool = True,
) -> bool:  # fmt: skip
    """Keep one check; True when the officials should be told now (low, and not told in a day)."""
    where, args = _sim(modem, first)
    with transaction(db):
        last = db.execute(f"select max(at) from credit_checks where warned=1 and {where}", args).fetchone()[0]
        warn = found is not None and found < warn_below and (last is None or at - last >= _WARN_EVERY)
        db.execute(
            "insert into credit_checks (at, answer, amount, error, warned, modem) values (?,?,?,?,?,?)",
            [at, answer[:500], found, error[:500], int(warn), modem],
        )
    return warn


def latest(db: sqlite_utils.Database, modem: str | None = None, first: bool = True) -> dict[str, Any] | None:
    where, args = _sim(modem, first)
    rows = list(
        db.query(f"select at, answer, amount, error from credit_checks where {where} order by id desc limit 1", args)
    )
    return rows[0] if rows else None


def segments_since(db: sqlite_utils.Database, since: float) -> int:
    """SMS segments handed to the network since then (each part is one paid segment)."""
    return int(db.execute("select count(*) from outbox_parts where sent_at >= ?", [since]).fetchone()[0])


def failing_sends(db: sqlite_utils.Database, since: float) -> int:
    """Messages the network refused lately: waiting to retry after an error, or failed since then."""
    return int(
        db.execute(
            "select count(*) from outbox where last_error is not null and"
            " (status in ('queued', 'sending') or (status='failed' and failed_at >= ?))",
            [since],
        ).fetchone()[0]
    )


def ask_by_sms(db: sqlite_utils.Database, number: str, text: str, modem: str, now: float) -> int:
    """The balance query, queued to leave through `modem`'s own SIM (the balance asked is that SIM's)."""
    prepared = prepare(text, "gsm7")
    (message_id,) = enqueue(db, [number], prepared, PRIORITIES["alert"], f"credit:{modem}", now)
    with transaction(db):
        db.execute("update outbox set route=? where id=?", [modem, message_id])
    return message_id


def via_of(db: sqlite_utils.Database, inbox_id: int) -> str | None:
    row = db.execute("select via from inbox where id=?", [inbox_id]).fetchone()
    return None if row is None else row[0]


def _short(number: str) -> str:
    """A short code or number as compared: digits only, without a country code or trunk 0."""
    digits = re.sub(r"\D", "", number)
    return digits[2:] if len(digits) > 6 and digits.startswith("84") else digits.lstrip("0")


def last_check(db: sqlite_utils.Database, modem: str | None = None, first: bool = True) -> tuple[float, bool] | None:
    """When the SIM was last asked, and whether that answer was read."""
    where, args = _sim(modem, first)
    row = db.execute(
        f"select at, amount is not null from credit_checks where {where} order by id desc limit 1", args
    ).fetchone()
    return None if row is None else (float(row[0]), bool(row[1]))


class Credit:
    """Each modem's SIM balance, asked on a schedule of its own (a pool has a SIM per modem)."""

    def __init__(
        self, store: Store, transports: Transport | dict[str, Transport], outbox: Outbox, notifier: Notifier,
        clock: Clock, config: CreditConfig,
    ) -> None:  # fmt: skip
        self.sims = transports if isinstance(transports, dict) else {"modem 1": transports}
        self.store, self.outbox = store, outbox
        self.notifier, self.clock, self.config = notifier, clock, config
        self._asked: dict[str, float] = {}  # modem → when its SIM's balance was asked by SMS
        self._locks: dict[str, asyncio.Lock] = {}

    @property
    def by_sms(self) -> bool:
        return bool(self.config.sms_number and self.config.sms_text)

    @property
    def first(self) -> str | None:
        return next(iter(self.sims), None)

    def jobs(self) -> list[Job]:
        if not self.config.ussd_code and not self.by_sms:
            return []
        return [
            Job(f"credit:{name}", float("inf"), self._next_for(name), self._check_for(name, transport))
            for name, transport in self.sims.items()
        ]

    def _next_for(self, modem: str) -> Callable[[], Awaitable[float]]:
        async def next_at() -> float:
            last = await self.store.call(last_check, modem, modem == self.first)
            if last is None:
                return self.clock()
            at, read = last
            # an answer not had or not understood (the modem still connecting, the network busy): sooner
            return at + (self.config.check_hours * 3600 if read else min(self.config.check_hours * 3600, RETRY))

        return next_at

    def _check_for(
        self, modem: str, transport: Transport
    ) -> Callable[[float, float], Awaitable[Sequence[asyncio.Task[None]]]]:
        async def check(now: float, grace: float) -> Sequence[asyncio.Task[None]]:
            return await self._check(modem, transport, now)

        return check

    async def _check(self, modem: str, transport: Transport, now: float) -> Sequence[asyncio.Task[None]]:
        async with self._locks.setdefault(modem, asyncio.Lock()):  # one question to a SIM at a time
            await self._ask(modem, transport, now)
        return []

    async def _ask(self, modem: str, transport: Transport, now: float) -> None:
        code, answer, error = self.config.ussd_code, "", ""
        try:
            if not code:
                raise ModemError("không có mã USSD (no USSD code configured)", transient=False)
            answer = await transport.ussd(code)
        except LoaError as e:  # the modem away or the network silent: kept, asked again next time
            error = e.message
            waiting = now - self._asked.get(modem, -1e18) <= self.config.sms_wait
            if waiting:
                error = f"{error}; đã hỏi số dư qua SMS {self.config.sms_number}, đang chờ trả lời"
            elif self.by_sms and isinstance(e, ModemError):
                # USSD refused or silent (common on LTE): the carrier's balance-by-SMS query instead
                await self.store.call(ask_by_sms, self.config.sms_number, self.config.sms_text, modem, now)
                self._asked[modem] = now
                self.outbox.wake()
                error = f"{error}; hỏi số dư qua SMS {self.config.sms_number}, chờ trả lời"
                log.info("credit of %s: USSD failed (%s); asked by SMS to %s", modem, e.message, self.config.sms_number)
        await self._record(modem, now, answer, error)

    async def _record(self, modem: str, now: float, answer: str, error: str) -> None:
        found = amount(answer) if answer else None
        if answer and found is None:
            error = "không đọc được số tiền (amount not understood)"
        warn_below = self.config.warn_below
        if await self.store.call(record, now, answer, found, error, warn_below, modem, modem == self.first):
            which = f" ({modem})" if len(self.sims) > 1 else ""
            text = (
                f"Loa: tài khoản SIM{which} còn {_dong(found or 0)} đ, dưới mức {_dong(self.config.warn_below)} đ. "
                "Hãy nạp thêm để tin nhắn không bị ngừng."
            )
            to = [phone.normalise(n) for n in self.config.warn_to]
            await self.outbox.enqueue(to, prepare(text, "auto"), priority="alert", source="credit")
            log.warning("SIM credit low on %s: %s đ (below %s đ)", modem, found, self.config.warn_below)
        self.notifier.notify()

    async def balance_reply(self, message: Inbound) -> bool:
        """The router's first handler: the carrier's answer to a balance query (from the short code it
        was sent to, within `sms_wait` of asking) is the SIM's balance, not a question for the officials.
        The same number's messages at other times (its offers) go on down the router."""
        if not self.by_sms or _short(message.sender) != _short(self.config.sms_number):
            return False
        now = self.clock()
        asked = {m: at for m, at in self._asked.items() if now - at <= self.config.sms_wait}
        if not asked:
            return False
        via = await self.store.call(via_of, message.id)
        modem = via if via in asked else max(asked, key=lambda m: asked[m])
        del self._asked[modem]
        log.info("credit of %s: the carrier's reply by SMS read", modem)
        await self._record(modem, now, message.text, "")
        return True

    async def latest(self, modem: str | None = None) -> dict[str, Any] | None:
        """The last check of `modem`'s SIM (the first modem's by default)."""
        name = modem or self.first
        return await self.store.call(latest, name, name == self.first)

    async def usage(self, tz: tzinfo) -> dict[str, Any]:
        """Segments sent today and this month (local time), against the monthly budget."""
        now = datetime.fromtimestamp(self.clock(), tz)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = await self.store.call(segments_since, day.timestamp())
        month = await self.store.call(segments_since, day.replace(day=1).timestamp())
        budget = self.config.monthly_segments
        failing = await self.store.call(failing_sends, self.clock() - 3600)
        return {"today": today, "month": month, "budget": budget or None, "over": bool(budget) and month > budget,
                "failing": failing if failing >= FAILING else 0}  # fmt: skip
