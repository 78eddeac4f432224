"""Reminders and alerts as the views and the scheduler see them: every method async, store work inside."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from broadcasts import people
from broadcasts.announcements import Announcer
from broadcasts.config import BroadcastsConfig
from broadcasts.queries import Queries
from gateway.core import commune, phone
from gateway.core.clock import Clock
from gateway.core.errors import Forbidden, InvalidRequest, LimitReached
from gateway.core.notify import Notifier
from gateway.core.principal import User
from gateway.core.store import Store
from gateway.core.text import fold
from gateway.sms.encoding import POLICIES, Policy, Prepared, prepare
from gateway.sms.outbox import Outbox
from gateway.sms.published import PRIORITIES
from gateway.sms.router import Inbound
from schedules.scheduler import Job, Scheduler

log = logging.getLogger(__name__)
NO_GRACE = float("inf")  # alert re-sends and escalations are never too late to do


class Broadcasts:
    def __init__(
        self,
        store: Store,
        outbox: Outbox,
        announcer: Announcer,
        scheduler: Scheduler,
        notifier: Notifier,
        clock: Clock,
        *,
        config: BroadcastsConfig,
        policy: Policy,
        reply_cap: int,
    ) -> None:
        self.store = store
        self.outbox = outbox
        self.announcer = announcer
        self.scheduler = scheduler
        self.notifier = notifier
        self.clock = clock
        self.config = config
        self.reply_cap = reply_cap
        self.q = Queries(config, policy)

    def jobs(self) -> list[Job]:
        return [
            Job("reminders", self.config.misfire_grace, self._next_reminder, self._fire_reminders, by_the_clock=True),
            Job("alert follow-ups", NO_GRACE, self._next_alert_check, self._check_alerts),
        ]

    # ---- scheduled work ----

    async def _next_reminder(self) -> float | None:
        return await self.store.call(self.q.next_reminder_at)

    async def _fire_reminders(self, now: float, grace: float) -> Sequence[asyncio.Task[None]]:
        if await self.store.call(self.q.run_due, now, grace):
            self.outbox.wake()
        return []

    async def _next_alert_check(self) -> float | None:
        return await self.store.call(self.q.next_alert_check_at)

    async def _check_alerts(self, now: float, grace: float) -> Sequence[asyncio.Task[None]]:
        if any((await self.store.call(self.q.check_alerts, now)).values()):
            self.outbox.wake()
        return []

    # ---- the router's handler ----

    async def acknowledge(self, msg: Inbound) -> bool:
        """'OK' or 'OK <code>' from someone an alert went to."""
        number = msg.number
        if number is None:
            return False
        consumed, reply = await self.store.call(self.q.acknowledge, number, msg.text, self.clock())
        if reply:
            # answered like any automatic reply: 15 OKs cost at most the daily cap
            await self.outbox.auto_reply(number, prepare(reply, self.q.policy), "alert-ack", self.reply_cap)
        if consumed:
            self.notifier.notify()
        return consumed

    async def acknowledge_call(self, number: str) -> bool:
        """A missed call ("gọi nháy") from someone with unconfirmed alerts confirms them, as OK would,
        and is answered by SMS that it was received."""
        confirmed = await self.store.call(self.q.acknowledge_call, number, self.clock())
        if not confirmed:
            return False
        codes = ", ".join(str(c) for c in confirmed)
        reply = f"Đã nhận xác nhận cảnh báo {codes} (qua cuộc gọi nháy). Cảm ơn."
        await self.outbox.auto_reply(number, prepare(reply, self.q.policy), "alert-ack", self.reply_cap)
        self.notifier.notify()
        return True

    # ---- messages and reminders ----

    async def send_to_numbers(
        self, user: User, recipients: list[str], prepared: Prepared, priority: str
    ) -> tuple[list[int], list[str]]:
        """The same text to numbers typed by hand (the API): a hamlet head only to their own hamlet,
        alert priority only for officials, HUY honoured but for alerts, within the role's daily
        segments. Returns (queued ids, numbers skipped because they sent HUY)."""
        if priority == "alert":
            user.require("admin", "official")
        if user.is_head:
            await self.store.call(people.check_own_numbers, user, recipients)
        ceiling = getattr(self.config, f"daily_segments_{user.role}", 0)
        ids, skipped = await self.store.call(
            people.send_typed, user, recipients, prepared, priority, self.clock(), ceiling
        )
        self.outbox.wake()
        return ids, skipped

    async def send_text(self, user: User, raw: dict[str, Any]) -> dict[str, Any]:
        """The API's message: {"to": number or numbers, "text", "priority" (reminder), "encoding" (the
        configured policy)} queued; what was queued, skipped, and how it was encoded."""
        to = raw.get("to")
        if isinstance(to, str):
            to = [to]
        if not isinstance(to, list) or not to or not all(isinstance(x, str) for x in to):
            raise InvalidRequest("Cần ít nhất một số nhận trong 'to' (to: list of numbers)", field="to")
        text = raw.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("Thiếu nội dung 'text' (text missing)", field="text")
        priority = raw.get("priority", "reminder")
        if priority not in PRIORITIES:
            raise InvalidRequest(f"priority phải là một trong {', '.join(PRIORITIES)}", field="priority")
        policy = raw.get("encoding", self.q.policy)
        if policy not in POLICIES:
            raise InvalidRequest(f"encoding phải là một trong {', '.join(POLICIES)}", field="encoding")
        recipients = list(dict.fromkeys(phone.normalise(n) for n in to))
        prepared = prepare(text, policy)
        ids, skipped = await self.send_to_numbers(user, recipients, prepared, priority)
        return {
            "ids": ids,
            "to": [n for n in recipients if n not in skipped],
            "skipped": [{"to": n, "reason": "Người này đã nhắn HUY (opted out)"} for n in skipped],
            "segments": prepared.segments,
            "encoding": prepared.encoding,
            "body": prepared.body,
            "folded": prepared.folded,
        }

    async def check_target(self, user: User, target: Any, *, numbers: bool = False) -> None:
        """Refused unless this user may send to this target: a hamlet head only to their own hamlet,
        and, where `numbers` allows typed numbers (the console's send page), only to its people."""
        if numbers and isinstance(target, dict) and "numbers" in target and user.is_head:
            rest = {k: v for k, v in target.items() if k != "numbers"} or {"hamlets": [user.hamlet]}
            await self.store.call(people.check_own_target, user, rest)
            typed = [people.valid_number(str(n))[0] for n in target["numbers"]]
            await self.store.call(people.check_own_numbers, user, typed)
        else:
            await self.store.call(people.check_own_target, user, target)

    async def preview(self, raw: dict[str, Any]) -> dict[str, Any]:
        return await self.store.call(self.q.preview, raw, self.clock())

    async def create_reminder(self, raw: dict[str, Any], by: User | None = None) -> dict[str, Any]:
        """Saved, and fired at once when it is due now; otherwise the scheduler will. Made by an account
        with a daily ceiling (a hamlet head), each firing counts against it."""
        now = self.clock()
        ceiling = getattr(self.config, f"daily_segments_{by.role}", 0) if by is not None else 0
        created = await self.store.call(
            self.q.create_reminder, raw, now, by.username if by is not None else None, ceiling
        )
        if created["next_fire_at"] <= now:
            created["run"] = await self.store.call(self.q.fire, created["id"], now, self.config.misfire_grace)
            self.outbox.wake()
            if created["run"]["status"] == "capped":  # sent now or never: said at once, as the API's is
                raise LimitReached(
                    f"Vượt hạn mức {ceiling} tin một ngày của tài khoản: tin chưa được gửi", field="to", limit=ceiling
                )
        else:
            self.scheduler.wake()
        return created

    async def reminders(self) -> list[dict[str, Any]]:
        return await self.store.call(self.q.list_reminders)

    async def cancel_reminder(self, reminder_id: int) -> None:
        await self.store.call(self.q.cancel_reminder, reminder_id)
        self.scheduler.wake()

    # ---- alerts ----

    async def create_alert(self, raw: dict[str, Any]) -> dict[str, Any]:
        """The SMS to everyone the alert names; with "loudspeaker", the same words khẩn cấp on the
        loudspeakers of the hamlets it names (all when none)."""
        created = await self.store.call(self.q.create_alert, raw, self.clock())
        self.outbox.wake()
        self.scheduler.wake()
        if raw.get("loudspeaker"):
            zones = raw.get("to", {}).get("hamlets", [])
            made = await self.announcer.create({"text": raw["text"], "priority": "khan_cap", "zones": zones})
            await self.announcer.approve_now(made["id"])
            created["announcement"] = made["id"]
        return created

    async def board(self, alert_id: int) -> dict[str, Any]:
        return await self.store.call(self.q.board, alert_id)

    async def open_alerts(self) -> int:
        return await self.store.call(self.q.open_alerts)

    async def recent_boards(self, limit: int, user: User | None = None) -> list[dict[str, Any]]:
        """The newest alerts' boards; a hamlet head's show only the people of their hamlet."""
        head = user is not None and user.is_head
        ids = await self.store.call(self.q.recent_alerts, limit, user.hamlet_id if head and user else None)
        boards = [await self.store.call(self.q.board, i) for i in ids]
        if head and user:
            for board in boards:
                board["recipients"] = [r for r in board["recipients"] if r["hamlet"] == user.hamlet]
        return boards

    async def confirm_alert(self, user: User, alert_id: int) -> bool:
        """ "Đã nhận" on the console: the same as the user's phone texting OK <id>; True when it counted."""
        if user.number is None:
            raise InvalidRequest("Tài khoản chưa có số điện thoại: nhắn OK từ điện thoại để xác nhận", field="number")
        board = await self.store.call(self.q.board, alert_id)
        mine = [r for r in board["recipients"] if r["number"] == user.number]
        if not mine:
            raise Forbidden("Cảnh báo này không gửi tới số của bạn", id=alert_id)
        if mine[0]["confirmed_at"] is not None:
            return False
        await self.store.call(self.q.acknowledge, user.number, f"OK {alert_id}", self.clock())
        self.notifier.notify()
        return True

    async def close_alert(self, alert_id: int) -> bool:
        closed = await self.store.call(self.q.close_alert, alert_id)
        self.scheduler.wake()
        return closed

    # ---- people ----

    async def hamlet_names(self) -> list[str]:
        return [h.name for h in await self.store.call(commune.hamlets)]

    async def add_hamlet(self, name: str) -> dict[str, Any]:
        return await self.store.call(commune.add_hamlet, name)

    async def rename_hamlet(self, hamlet: int, name: str) -> None:
        await self.store.call(commune.rename_hamlet, hamlet, name)

    async def hamlets_summary(self) -> list[dict[str, Any]]:
        return await self.store.call(people.hamlets_summary)

    async def contacts(self, user: User) -> list[dict[str, Any]]:
        contacts = await self.store.call(people.list_contacts)
        return [c for c in contacts if c["hamlet"] == user.hamlet] if user.is_head else contacts

    async def add_contact(self, raw: dict[str, Any]) -> dict[str, Any]:
        return await self.store.call(people.add_contact, raw, self.clock())

    async def update_contact(self, contact_id: int, raw: dict[str, Any]) -> dict[str, Any]:
        return await self.store.call(people.update_contact, contact_id, raw, self.clock())

    async def contact(self, contact_id: int) -> dict[str, Any]:
        return await self.store.call(people.contact_by_id, contact_id)

    async def search_contacts(
        self, user: User, q: str = "", hamlet: str = "", role: str = ""
    ) -> tuple[list[dict[str, Any]], int]:
        """The contacts this user sees whose name (diacritics aside) or number has `q`, of `hamlet`
        and with `role` (each when given), and how many the user sees in all."""
        everyone = await self.contacts(user)
        folded_q = fold(q).lower()
        found = [
            c for c in everyone
            if (not q or folded_q in fold(c["name"]).lower() or q.replace(" ", "") in c["number"]
                or (q.startswith("0") and q[1:].replace(" ", "") in c["number"]))
            and (not hamlet or c["hamlet"] == hamlet) and (not role or role in c["roles"])
        ]  # fmt: skip
        return found, len(everyone)

    async def delete_contact(self, contact_id: int) -> dict[str, Any]:
        """Deleted; the contact as it was."""
        return await self.store.call(people.delete_contact, contact_id)

    async def sent_history(
        self, user: User, since: float, until: float, status: str | None = None, batch: str | None = None,
        before: int | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The messages of [since, until), a page of them, newest first; a hamlet head's only to their hamlet."""
        hamlet = user.hamlet_id if user.is_head else None
        return await self.store.call(people.sent_history, since, until, status, batch, hamlet, before)

    async def cancel_messages(self, user: User, ids: list[int], batch: str | None) -> int:
        """Messages still waiting cancelled by an official (one message, or a whole batch)."""
        user.require("admin", "official")
        return await self.outbox.cancel(ids, batch, user.username)

    async def resend_message(self, user: User, message_id: int) -> int:
        user.require("admin", "official")
        return await self.outbox.resend(message_id)

    async def names_for(self, numbers: list[str]) -> dict[str, str]:
        return await self.store.call(people.names_for, numbers)

    async def opted_out_numbers(self) -> set[str]:
        """Everyone who texted HUY: the phone book marks them."""
        return await self.store.call(people.opted_out)

    @property
    def policy(self) -> str:
        """How texts are encoded ("gsm7" folds diacritics): the console's counters count the same."""
        return str(self.q.policy)

    async def hamlet_overview(self, hamlet_id: int, since: float) -> dict[str, int]:
        return await self.store.call(people.hamlet_overview, hamlet_id, since)

    async def import_contacts(self, data: bytes) -> people.ImportReport:
        return await self.store.call(people.import_csv, data, self.clock())

    async def hamlet_people(self, user: User, name: str) -> list[dict[str, Any]]:
        target = {"hamlets": [name]}
        await self.store.call(people.check_own_target, user, target)
        return [asdict(p) for p in await self.store.call(people.resolve, target)]

    async def groups(self) -> list[dict[str, Any]]:
        return await self.store.call(people.list_groups)

    async def save_group(self, raw: dict[str, Any]) -> dict[str, Any]:
        return await self.store.call(people.save_group, raw)

    @staticmethod
    def valid_number(raw: str) -> str:
        return people.valid_number(raw)[0]
