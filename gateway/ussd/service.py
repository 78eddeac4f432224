"""The USSD menu as a service: one screen per callback, sessions that expire."""

from __future__ import annotations

from gateway.core.store import Store
from gateway.residents.config import ResidentsConfig
from gateway.residents.service import Residents
from gateway.ussd.menu import Item, Menu, Screen
from gateway.ussd.queries import touch_session


class Ussd:
    def __init__(self, store: Store, residents: Residents, *, commune: str, config: ResidentsConfig) -> None:
        self.store = store
        self.residents = residents
        self.commune = commune
        self.config = config

    async def screen(self, session_id: str, phone: str, text: str) -> Screen:
        """The screen for the inputs so far (`text` is every input joined by `*`). It only reads:
        subscribing and stopping are done by the resident's own SMS, which the menu tells them to send."""
        residents = self.residents
        fresh = await self.store.call(
            touch_session, session_id, phone, residents.clock(), self.config.ussd_session_timeout
        )
        if not fresh:
            return Screen("Phien da het han. Vui long quay so lai.", end=True)
        names = [h.name for h in await residents.hamlets()]
        procedures = [Item(p.key, p.name, p.answer_plain) for p in residents.procedures.values()]
        menu = Menu(self.commune, procedures, names, self.config.sms_number)
        return menu.walk(text.split("*") if text else [])
