"""What the commune said, out as CAP 1.2: each warning it sent out (and the Cancel of one it stopped),
each alert it sent its hamlet heads by hand, and the Atom feed's entries linking them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bulletins import cap, queries
from gateway.core.errors import NotFound

if TYPE_CHECKING:
    from bulletins.service import Bulletins


class Publisher:
    def __init__(self, service: Bulletins) -> None:
        self.s = service

    def _outgoing(self, b: dict[str, Any], *, cancel: bool = False) -> cap.Outgoing:
        own = b["origin"] == "form"
        # a received warning re-said by the commune: its own identifier, the original referenced
        origin = uuid.uuid5(uuid.NAMESPACE_URL, f"{b['sender']} {b['identifier']}").hex[:12]
        identifier = b["identifier"] if own else f"loa-{b['id']}-{origin}"
        refs: list[tuple[str, str, float]] = [] if own else [(b["sender"], b["identifier"], b["issued_at"])]
        sent = (b["first_play_at"] or b["created_at"]) if not own else b["issued_at"]
        if cancel:
            refs = [(self.s.config.sender, identifier, sent)]
            identifier += "-cancel"
            sent = b["stopped_at"] or sent
        c = self.s.config
        circles: list[tuple[float, float, float]] = []
        if not b["zones"] and (c.latitude, c.longitude) != (0.0, 0.0):
            circles.append((c.latitude, c.longitude, 5.0))
        return cap.Outgoing(
            identifier=identifier, sender=c.sender, sent=sent, msg_type="Cancel" if cancel else "Alert",
            references=tuple(refs), event=b["hazard"] or "Cảnh báo", urgency="Immediate" if b["urgent"] else "Expected",
            severity={5: "Extreme", 4: "Extreme", 3: "Severe", 2: "Moderate"}.get(b["level"] or 1, "Minor"),
            headline=b["headline"] or "", description=self.s.speech(b), instruction=b["instruction"] or "",
            expires=b["expires_at"], sender_name=f"{self.s.commune_name} (theo {b['issuer'] or b['sender']})",
            level=b["level"] or 1, area_desc=", ".join(b["zones"]) or self.s.commune_name,
            geocode=("ma_xa", c.commune_code) if c.commune_code else None, circles=tuple(circles),
        )  # fmt: skip

    async def as_cap(self, bulletin_id: int, *, cancel: bool = False) -> bytes:
        """What the commune said as CAP 1.2 (a warning it sent out, or the Cancel of one it stopped)."""
        b = await self.s.bulletin(bulletin_id)
        if b["first_play_at"] is None or (cancel and b["status"] != "stopped"):
            raise NotFound(f"Xã chưa phát cảnh báo số {bulletin_id}", id=bulletin_id)
        return cap.write(self._outgoing(b, cancel=cancel), self.s.tz)

    async def own_entries(self, origin: str) -> list[cap.Entry]:
        entries = []
        for b in await self.s.store.call(queries.own, 50):
            if b["first_play_at"] is None:
                continue
            out = self._outgoing(b)
            entries.append(cap.Entry(f"{origin}/cap/{b['id']}.xml", f"{out.event}: {out.headline}", out.sent,
                                     self.s.sms_text(b).original, f"{origin}/cap/{b['id']}.xml"))  # fmt: skip
            if b["status"] == "stopped":
                stop = self._outgoing(b, cancel=True)
                entries.append(cap.Entry(f"{origin}/cap/{b['id']}/cancel.xml", f"Huỷ: {out.headline}", stop.sent,
                                         f"Đã dừng lúc {datetime.fromtimestamp(stop.sent, self.s.tz):%H:%M %d/%m}",
                                         f"{origin}/cap/{b['id']}/cancel.xml"))  # fmt: skip
        return sorted(entries, key=lambda e: e.updated, reverse=True)

    async def _alert_ids_of_warnings(self) -> set[int]:
        return {b["alert_id"] for b in await self.s.store.call(queries.recent, 500) if b["alert_id"] is not None}

    def _alert_outgoing(self, board: dict[str, Any]) -> cap.Outgoing:
        c = self.s.config
        hamlets = sorted({r["hamlet"] for r in board["recipients"] if r["hamlet"]})
        text = board["text"]
        return cap.Outgoing(
            identifier=f"loa-alert-{board['id']}", sender=c.sender, sent=board["created_at"], msg_type="Alert",
            references=(), event="Cảnh báo của xã", urgency="Immediate", severity="Severe",
            headline=text[:120], description=text, instruction="", expires=None,
            sender_name=self.s.commune_name, level=None, area_desc=", ".join(hamlets) or self.s.commune_name,
            geocode=("ma_xa", c.commune_code) if c.commune_code else None,
        )  # fmt: skip

    async def alert_as_cap(self, alert_id: int) -> bytes:
        """An alert the commune sent its hamlet heads by hand, as CAP 1.2 (a warning's own is its CAP)."""
        if alert_id in await self._alert_ids_of_warnings():
            raise NotFound(f"Cảnh báo {alert_id} thuộc một bản tin thiên tai: xem CAP của bản tin", id=alert_id)
        return cap.write(self._alert_outgoing(await self.s.broadcasts.board(alert_id)), self.s.tz)

    async def alert_entries(self, origin: str) -> list[cap.Entry]:
        skip = await self._alert_ids_of_warnings()
        entries = []
        for board in await self.s.broadcasts.recent_boards(50):
            if board["id"] in skip:
                continue
            link = f"{origin}/cap/alerts/{board['id']}.xml"
            entries.append(cap.Entry(link, f"Cảnh báo của xã: {board['text'][:80]}", board["created_at"],
                                     board["text"][:300], link))  # fmt: skip
        return entries
