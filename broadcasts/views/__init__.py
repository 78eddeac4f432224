"""What goes to many, over HTTP: the JSON API and the console's pages (send, messages, announcements,
contacts, hamlets, alerts), each a module; thin over the services, one call of them per step."""

from __future__ import annotations

from aiohttp import web

from broadcasts.keys import ANNOUNCER, BROADCASTS
from broadcasts.service import Broadcasts
from broadcasts.views import alerts, announcements, api, contacts, hamlets, messages, send
from broadcasts.views.api import MAX_CLIP, MAX_CSV
from gateway.web.keys import BIG_BODIES, NAMES

__all__ = ["MAX_CLIP", "MAX_CSV", "setup"]
MODULES = (api, send, messages, announcements, contacts, hamlets, alerts)


def setup(app: web.Application, broadcasts: Broadcasts) -> None:
    app[BROADCASTS] = broadcasts
    app[ANNOUNCER] = broadcasts.announcer
    app[NAMES] = broadcasts.names_for  # "Dân hỏi" and others show the phone book's names beside numbers
    for module in MODULES:
        app.add_routes(module.routes)
    # the uploads' own limits (a form's other fields need a little more room than the file)
    app[BIG_BODIES].update(
        {"/api/v1/contacts/import": MAX_CSV, "/contacts/import": MAX_CSV + 65536,
         "/api/v1/clips": MAX_CLIP, "/announcements": MAX_CLIP + 65536,
         "/announcements/{id}/edit": MAX_CLIP + 65536}
    )  # fmt: skip
