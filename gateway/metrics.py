"""GET /metrics in Prometheus text format, read from the database and the modem at each scrape."""

from __future__ import annotations

import time
from typing import Any

import sqlite_utils
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.config import Config
from gateway.core.keys import CLOCK, STORE
from gateway.core.priority import SMS
from gateway.sms.keys import TRANSPORT
from gateway.web.clients import is_local
from gateway.web.http import authorise

routes = web.RouteTableDef()
PRIORITY_NAMES = {int(v): k for k, v in SMS.items()}


def setup(app: web.Application, config: Config) -> None:
    app.add_routes(routes)


def figures(db: sqlite_utils.Database, now: float) -> dict[str, Any]:
    """Everything /metrics shows from the database, in one pass on the store thread."""
    q = db.execute
    return {
        "messages": q(
            "select status, priority, count(*), coalesce(sum(segments), 0) from outbox group by 1, 2"
        ).fetchall(),
        "oldest_queued": q("select min(created_at) from outbox where status in ('queued', 'sending')").fetchone()[0],
        "inbound_hour": q("select count(*) from inbox where received_at >= ?", [now - 3600]).fetchone()[0],
        "inbound": q("select count(*) from inbox").fetchone()[0],
        "replies": q("select count(*) from outbox where source like 'auto:%'").fetchone()[0],
        "plays": q("select result, count(*) from broadcast_log group by 1").fetchall(),
        "unconfirmed": q(
            "select count(*) from alert_recipients r join alerts a on a.id = r.alert_id"
            " where a.status = 'open' and r.confirmed_at is null"
        ).fetchone()[0],
        "questions_open": q("select count(*) from questions where status = 'open'").fetchone()[0],
    }


class _Snapshot(Collector):
    """One scrape's figures, handed to prometheus-client to write out (no global registry)."""

    def __init__(self, found: dict[str, Any], modem: Any, store_seconds: float, now: float) -> None:
        self.found, self.modem, self.store_seconds, self.now = found, modem, store_seconds, now

    def collect(self) -> Any:
        f, m = self.found, self.modem
        messages = GaugeMetricFamily("loa_messages", "Outbox messages by status and priority",
                                     labels=["status", "priority"])  # fmt: skip
        segments = CounterMetricFamily("loa_segments", "SMS segments in the outbox by status and priority",
                                       labels=["status", "priority"])  # fmt: skip
        for status, priority, count, parts in f["messages"]:
            name = PRIORITY_NAMES.get(int(priority), str(priority))
            messages.add_metric([status, name], count)
            segments.add_metric([status, name], parts)
        yield messages
        yield segments
        oldest = f["oldest_queued"]
        yield GaugeMetricFamily("loa_outbox_oldest_queued_seconds", "Age of the oldest message not yet sent",
                                value=0.0 if oldest is None else max(0.0, self.now - oldest))  # fmt: skip
        yield CounterMetricFamily("loa_inbound", "SMS received", value=f["inbound"])
        yield GaugeMetricFamily("loa_inbound_last_hour", "SMS received in the last hour", value=f["inbound_hour"])
        yield CounterMetricFamily("loa_auto_replies", "Automatic replies queued", value=f["replies"])
        plays = CounterMetricFamily("loa_plays", "Loudspeaker plays by result", labels=["result"])
        for result, count in f["plays"]:
            plays.add_metric([result], count)
        yield plays
        yield GaugeMetricFamily("loa_alert_recipients_unconfirmed", "Open alerts' recipients not yet confirmed",
                                value=f["unconfirmed"])  # fmt: skip
        yield GaugeMetricFamily("loa_questions_open", "Residents' questions not yet answered",
                                value=f["questions_open"])  # fmt: skip
        yield GaugeMetricFamily("loa_modem_connected", "1 when the modem answers", value=int(m.connected))
        if m.signal is not None:
            yield GaugeMetricFamily("loa_modem_signal_rssi", "AT+CSQ signal, 0–31", value=m.signal)
        registered = GaugeMetricFamily("loa_modem_registration", "1 for the modem's network registration",
                                       labels=["state"])  # fmt: skip
        registered.add_metric([m.registration or "unknown"], 1)
        yield registered
        memory = GaugeMetricFamily("loa_sim_memory_used_ratio", "SMS memory in use", labels=["memory"])
        for name, use in m.memories.items():
            used, _, total = use.partition("/")
            if used.isdigit() and total.isdigit() and int(total):
                memory.add_metric([name], int(used) / int(total))
        yield memory
        yield GaugeMetricFamily("loa_store_call_seconds", "Time the store thread took to answer this scrape",
                                value=self.store_seconds)  # fmt: skip


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """From the Pi itself without a token (a local Prometheus or node exporter); from elsewhere, and
    through a reverse proxy (it names the client), an admin token."""
    if not is_local(request):
        await authorise(request, "admin")
    now = request.app[CLOCK]()
    started = time.perf_counter()
    found = await request.app[STORE].call(figures, now)
    store_seconds = time.perf_counter() - started
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(found, request.app[TRANSPORT].info, store_seconds, now))
    return web.Response(body=generate_latest(registry), content_type="text/plain", charset="utf-8")
