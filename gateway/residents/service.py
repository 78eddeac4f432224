"""The residents' SMS service: commands, keyword answers, numbered choices, questions, cost guards."""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

from gateway.core import commune, phone
from gateway.core.clock import Clock
from gateway.core.commune import CommuneConfig, Hamlet, match_hamlets
from gateway.core.errors import InvalidRequest
from gateway.core.notify import Notifier
from gateway.core.store import Store
from gateway.core.text import fold, tokens
from gateway.residents import kb
from gateway.residents import queries as q
from gateway.residents.config import ResidentsConfig
from gateway.residents.matcher import NOT_A_PROCEDURE, Example, Matcher
from gateway.sms.encoding import Policy, Prepared, prepare
from gateway.sms.outbox import Outbox
from gateway.sms.router import Inbound

log = logging.getLogger(__name__)
PREVIEW_TEXTS = 500  # recent questions and examples a teaching is tried on before it is saved
DAY = 86400.0

HELP_WORDS = {"tro giup", "trogiup", "hd", "help", "?", "menu", "huong dan"}
STOP_WORDS = {"huy", "tc", "stop", "tu choi", "huy dk", "huy dang ky"}
SUBSCRIBE = re.compile(r"^\s*(?:dk|dang ky|dangky)\s+(.+)$", re.IGNORECASE)
# a topic the knowledge base does not cover (criminal record, allowances, passports…): a person answers it
NOT_OURS_REPLY = "Xã đã nhận câu hỏi của bạn, xã sẽ trả lời sớm. Xin cảm ơn."
# a question nobody could answer: the resident is told it went to the officials (then the menu, once a day)
PASSED_ON_REPLY = "Câu hỏi đã chuyển tới cán bộ xã."


# ---- the service ----


class Residents:
    """Answers what residents send; everything it sends is an automatic reply, capped per number.
    Its handlers take their place in the inbound router's list (see gateway.app)."""

    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        notifier: Notifier,
        clock: Clock,
        *,
        config: ResidentsConfig,
        commune: CommuneConfig,
        policy: Policy,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.notifier = notifier
        self.clock = clock
        self.config = config
        self.commune = commune
        self.policy = policy
        self.menu = ""
        self.matcher = Matcher([])
        self.procedures: dict[str, kb.Procedure] = {}
        self.seed: kb.Seed | None = None
        # told of each HUY (after it is recorded): another system that sends for the commune stops too
        self.on_stop: list[Callable[[str], Awaitable[None]]] = []

    async def start(self) -> None:
        seed = kb.load_seed()
        self.seed = seed
        self.menu = seed.menu
        await self.store.call(kb.seed, seed, self.clock())
        await self.store.call(commune.seed_hamlets, self.commune.hamlets)
        await self.reload()

    async def reload(self) -> None:
        self.matcher, procedures = await self._build(())
        self.procedures = {p.key: p for p in procedures}

    async def _build(self, extra: tuple[Example, ...]) -> tuple[Matcher, list[kb.Procedure]]:
        """The matcher from what the database holds, with `extra` examples taught besides."""
        procedures = await self.store.call(kb.all_procedures)
        examples = [Example(e["text"], e["key"]) for e in await self.store.call(kb.examples)]
        cues = await self.store.call(kb.not_questions)
        not_ours, negative = (self.seed.not_ours, self.seed.negative) if self.seed else ((), ())
        return Matcher(procedures, [*examples, *extra], cues, not_ours, negative), procedures

    async def teaching_changes(self, question_id: int, key: str) -> list[dict[str, str]]:
        """What teaching this question as `key` ("" = not a procedure) would change: each recent question
        or earlier example whose answer would differ, with the answer before and after (at most 30)."""
        question = await self.store.call(q.get_question, question_id)
        key = key.upper() if key else NOT_A_PROCEDURE
        candidate, _ = await self._build((Example(question["text"], key),))
        texts = await self.store.call(q.recent_texts, PREVIEW_TEXTS)
        matcher = self.matcher

        def compare() -> list[dict[str, str]]:
            changes = []
            for text in dict.fromkeys(texts):
                if text == question["text"]:
                    continue
                before, after = matcher.match(text), candidate.match(text)
                if (before.keys, before.not_ours) != (after.keys, after.not_ours):
                    changes.append({"text": text, "before": self._said(before), "after": self._said(after)})
                    if len(changes) == 30:
                        break
            return changes

        return await asyncio.to_thread(compare)  # up to 1,000 matches: off the event loop

    def _said(self, found: Any) -> str:
        """An answer in the officials' words."""
        if found.not_ours:
            return "chuyển cán bộ (không phải việc của xã)"
        if not found.keys:
            return "chuyển cán bộ"
        names = [f"{k} – {self.procedures[k].name}" if k in self.procedures else k for k in found.keys]
        return names[0] if len(names) == 1 else "hỏi lại: " + ", ".join(names)

    # ---- the router's handlers, in the order gateway.app lists them ----

    async def commands(self, msg: Inbound) -> bool:
        """Help (TRO GIUP, ?) and stop (HUY, TC, STOP)."""
        if msg.alphanumeric:
            return False  # a name: no reply, no opt-out, nothing but the officials' inbox (below)
        words = " ".join(tokens(msg.text))
        if msg.text.strip() == "?" or words in HELP_WORDS:
            await self.reply(msg.sender, self.menu, "menu")
            return True
        if words in STOP_WORDS:
            number = msg.number
            first_time = number is not None and await self.store.call(q.unsubscribe, number, self.clock())
            if first_time:
                await self.reply(
                    msg.sender, self._t("Đã ngừng nhận tin của xã. Nhắn DK <tên thôn> để nhận lại."), "stop"
                )
            for listener in self.on_stop:
                try:
                    if number is not None:
                        await listener(number)
                except Exception:  # the HUY is recorded and confirmed; a listener's trouble is its own
                    log.exception("an opt-out listener failed for %s", number)
            return True
        return False

    async def choices(self, msg: Inbound) -> bool:
        """A digit answering the numbered choice this number was asked."""
        words = " ".join(tokens(msg.text))
        number = msg.number
        if not words.isdigit() or number is None:
            return False
        choice = await self.store.call(q.take_choice, number, self.clock() - self.config.choice_timeout)
        if choice is None:
            return False
        await self._resolve(msg.sender, number, choice, int(words))
        return True

    async def subscription(self, msg: Inbound) -> bool:
        """DK <thôn>; "DK khai sinh" is a procedure, not a hamlet, and falls through."""
        if msg.alphanumeric:
            return False
        nfc, folded = unicodedata.normalize("NFC", msg.text), fold(msg.text)
        m = SUBSCRIBE.match(folded)
        if m is None:
            return False
        # Vietnamese letters fold one to one, so the span also cuts the words as the resident wrote them
        query = (nfc if len(nfc) == len(folded) else folded)[m.start(1) : m.end(1)]
        return await self._subscribe(msg.sender, msg.number, query, fall_through=True)

    async def keywords(self, msg: Inbound) -> bool:
        """A procedure's answer, or a numbered choice between the procedures that fit; a topic that is not
        ours goes to the officials with a word that the commune will answer."""
        if msg.alphanumeric:
            return False  # no automatic answer to a name, whatever number it spells
        # on a worker thread: a knowledge base filled to its limits takes seconds a message, and the
        # event loop (every send, /healthz) goes on meanwhile
        found = await asyncio.to_thread(self.matcher.match, msg.text)
        if found.why:
            log.debug("matcher: %s via %s (%s)", found.keys or "officials", found.via, found.why)
        if found.not_ours:
            await self._ask_officials(msg)
            await self.reply(msg.sender, self._t(NOT_OURS_REPLY), "not_ours")
            return True
        if len(found.keys) == 1:
            await self.answer(msg.sender, found.keys[0])
            # kept so that the officials can see it, and send a wrong one back to be taught
            await self.store.call(q.add_auto_answer, msg.id, msg.sender, msg.text, found.keys[0], self.clock())
        elif found.keys:
            await self._ask(msg.sender, msg.number, "procedure", list(found.keys))
        return bool(found.keys)

    async def question(self, msg: Inbound) -> bool:
        """Nobody could answer: the officials' inbox; the resident told it was passed on, with the
        menu, once a day (more questions that day go to the officials without another SMS)."""
        await self._ask_officials(msg)
        number = msg.number
        if number and await self.store.call(q.replies_since, number, "auto:menu", self.clock() - DAY) == 0:
            await self.reply(msg.sender, f"{self._t(PASSED_ON_REPLY)} {self.menu}", "menu")
        return True

    async def _ask_officials(self, msg: Inbound) -> None:
        added = await self.store.call(
            q.add_question, msg.id, msg.sender, msg.text, self.clock(), msg.alphanumeric, self.config.daily_questions
        )
        if added is None:
            log.info("inbox %d: %s has asked %d questions today; kept in the inbox only", msg.id, msg.sender,
                     self.config.daily_questions)  # fmt: skip

    async def answer(self, sender: str, key: str) -> None:
        await self.reply(sender, self.procedures[key].reply(self.policy), f"answer:{key}")

    async def _subscribe(self, sender: str, number: str | None, query: str, *, fall_through: bool) -> bool:
        options = await self.store.call(commune.hamlets)
        found = match_hamlets(query, options)
        if not found and fall_through and (await asyncio.to_thread(self.matcher.match, query)).keys:
            return False  # "DK khai sinh": a procedure, not a hamlet
        if number is None:
            return True
        if len(found) == 1:
            await self.store.call(q.subscribe, number, found[0].id, self.clock())
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
        await self.store.call(q.set_choice, number, kind, options, self.clock())
        if kind == "procedure":
            names = [self.procedures[k].name for k in options]
            head = "Bạn hỏi thủ tục nào? Nhắn số:"
        else:
            by_id = {h.id: h.name for h in await self.store.call(commune.hamlets)}
            names = [by_id[i] for i in options]
            head = "Thôn nào? Nhắn số:"
        lines = ", ".join(f"{i} {name}" for i, name in enumerate(names, start=1))
        await self.reply(sender, self._t(f"{head} {lines}"), "choice")

    async def _resolve(self, sender: str, number: str, choice: tuple[str, list[Any]], digit: int) -> None:
        kind, options = choice
        if not 1 <= digit <= len(options):
            await self.store.call(q.set_choice, number, kind, options, self.clock())
            await self.reply(sender, self._t(f"Chọn số từ 1 đến {len(options)}."), "choice")
            return
        picked = options[digit - 1]
        if kind == "procedure":
            await self.answer(sender, str(picked))
        else:
            by_id = {h.id: h for h in await self.store.call(commune.hamlets)}
            hamlet = by_id[int(picked)]
            await self._subscribe(sender, number, hamlet.name, fall_through=False)

    def _t(self, text: str) -> str:
        return fold(text) if self.policy == "gsm7" else text

    async def reply(self, sender: str, text: str, kind: str) -> list[int]:
        """An automatic reply: only to a Vietnamese mobile number, at most the daily cap per number."""
        found = await self.outbox.auto_reply(sender, fit(text, self.policy), kind, self.config.daily_reply_cap)
        return [] if found is None else [found]

    async def answer_question(self, question_id: int, text: str) -> dict[str, Any]:
        question = await self.store.call(q.get_question, question_id)
        if question["alphanumeric"] or not phone.can_reply(question["sender"]):
            raise InvalidRequest(
                f"Không thể nhắn lại {question['sender']!r}: không phải số di động Việt Nam", field="id"
            )
        prepared = prepare(text, self.policy)
        (message_id,) = await self.outbox.enqueue(
            [question["sender"]], prepared, priority="reply", source=f"question:{question_id}"
        )
        await self.store.call(q.mark_answered, question_id, text, message_id, self.clock())
        self.notifier.notify()
        return {"question": question_id, "message_id": message_id, "segments": prepared.segments}

    async def answer_with_procedure(self, question_id: int, key: str, by: str) -> dict[str, Any]:
        """The official's one click: the procedure's answer to the resident, and the question kept as an
        example of that procedure, so the next resident who asks it so gets the answer at once."""
        question = await self.store.call(q.get_question, question_id)
        procedure = self.procedures.get(key.upper())
        if procedure is None:
            raise InvalidRequest(f"Không có thủ tục mã {key!r}", field="procedure")
        if question["alphanumeric"] or not phone.can_reply(question["sender"]):
            raise InvalidRequest(
                f"Không thể nhắn lại {question['sender']!r}: không phải số di động Việt Nam", field="id"
            )
        prepared = prepare(procedure.reply(self.policy), self.policy)
        (message_id,) = await self.outbox.enqueue(
            [question["sender"]], prepared, priority="reply", source=f"question:{question_id}"
        )
        await self.store.call(q.mark_answered, question_id, prepared.body, message_id, self.clock(), procedure.key)
        await self.store.call(kb.add_example, question["text"], procedure.key, question_id, by, self.clock())
        await self.reload()
        self.notifier.notify()
        return {"question": question_id, "message_id": message_id, "segments": prepared.segments, "procedure": key}

    async def not_a_procedure(self, question_id: int, by: str) -> None:
        """ "Không phải thủ tục": kept as an example that messages like it go to a person, unanswered."""
        question = await self.store.call(q.get_question, question_id)
        if question["procedure"] == NOT_A_PROCEDURE:
            return
        await self.store.call(q.mark_procedure, question_id, NOT_A_PROCEDURE)
        await self.store.call(kb.add_example, question["text"], NOT_A_PROCEDURE, question_id, by, self.clock())
        await self.reload()

    # ---- what the views call ----

    async def auto_answers(self, limit: int) -> list[dict[str, Any]]:
        """The newest questions answered without an official, each with the procedure that answered."""
        return await self.store.call(q.auto_answers, limit)

    async def teach_again(self, auto_id: int) -> int:
        """ "Sai — dạy lại": the question back among the open ones; its new question's id."""
        question_id = await self.store.call(q.teach_again, auto_id, self.clock())
        self.notifier.notify()
        return question_id

    async def examples(self) -> list[dict[str, Any]]:
        return await self.store.call(kb.examples)

    async def remove_example(self, example_id: int) -> None:
        await self.store.call(kb.remove_example, example_id)
        await self.reload()

    async def not_questions(self) -> tuple[str, ...]:
        return await self.store.call(kb.not_questions)

    async def save_not_questions(self, items: tuple[str, ...]) -> None:
        await self.store.call(kb.set_not_questions, items)
        await self.reload()

    async def hamlets(self) -> list[Hamlet]:
        return await self.store.call(commune.hamlets)

    async def hamlets_with_subscribers(self) -> list[dict[str, Any]]:
        return await self.store.call(q.hamlets_with_subscribers)

    async def all_procedures(self) -> list[kb.Procedure]:
        return await self.store.call(kb.all_procedures)

    async def save_procedure(self, procedure: kb.Procedure) -> None:
        await self.store.call(kb.upsert, procedure, self.clock())
        await self.reload()

    async def questions(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        return await self.store.call(q.list_questions, status, limit)

    async def open_questions(self) -> int:
        return await self.store.call(q.open_questions)

    async def subscribe_number(self, number: str, hamlet_name: str) -> None:
        """A subscription made through the USSD menu (the number is the caller's own)."""
        hamlet = next(h for h in await self.store.call(commune.hamlets) if h.name == hamlet_name)
        await self.store.call(q.subscribe, number, hamlet.id, self.clock())

    async def opted_out(self, number: str) -> bool:
        """Whether this number sent HUY (and not DK since): nothing but an alert goes to it."""
        return await self.store.call(q.opted_out, number)

    async def unsubscribe_number(self, number: str) -> None:
        await self.store.call(q.unsubscribe, number, self.clock())


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
        return phone.normalise(sender)
    except InvalidRequest:
        return None
