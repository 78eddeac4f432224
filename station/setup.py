"""The station's setup: its outputs built from [player] (wired) and [station], its zones, the per-output
log and the report; the relays switched off before anything else starts, the IP sources started after."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from audio.player import Player, make_lines, make_player, make_relay
from audio.player import Station as Amplifier
from gateway.config import Config
from gateway.core.keys import CLOCK, LOOPS, NOTIFIER, STORE
from gateway.core.store import MigrationSet
from gateway.core.text import fold
from schedules.keys import SCHEDULER
from schedules.scheduler import Job
from station import report
from station.ip import IcecastOutput, RtpOutput
from station.keys import STATION
from station.outputs import AmplifiedOutput, Item, Output, Proof
from station.relays import Relays
from station.service import StationService
from station.station import Station
from station.zones import parse_map

log = logging.getLogger(__name__)
MIGRATIONS: list[MigrationSet] = [report.MIGRATIONS]
# a sound output handed in by the caller (tests, benchmarks) instead of the configured player
GIVEN_PLAYER = web.AppKey("given_player", Player)


def build_outputs(app: web.Application, config: Config) -> list[Output]:
    p, s, hamlets = config.player, config.station, list(config.commune.hamlets)
    outputs: list[Output] = []
    if "wired" in s.outputs:
        spelling = {fold(h).lower(): h for h in hamlets}
        lines = {spelling.get(fold(name).lower(), name): relay for name, relay in make_lines(p).items()}
        player = app[GIVEN_PLAYER] if GIVEN_PLAYER in app else make_player(p)
        outputs.append(
            AmplifiedOutput("wired", "wired", Amplifier(player, make_relay(p), p.warmup, p.tail, lines=lines))
        )
    if "fm" in s.outputs:
        fm = dataclasses.replace(
            p, device=s.fm_device, relay=s.fm_relay, relay_pin=s.fm_relay_pin, relay_on_command=s.fm_relay_on_command,
            relay_off_command=s.fm_relay_off_command, lines=(),
        )  # fmt: skip
        outputs.append(AmplifiedOutput("fm", "fm", Amplifier(make_player(fm), make_relay(fm), s.fm_warmup, s.fm_tail)))
    if "icecast" in s.outputs:
        outputs.append(IcecastOutput(
            "icecast", s.icecast_url, hamlets, source_password=s.icecast_source_password,
            admin_user=s.icecast_admin_user, admin_password=s.icecast_admin_password, bitrate=s.icecast_bitrate,
        ))  # fmt: skip
    if "rtp" in s.outputs:
        outputs.append(RtpOutput("rtp", parse_map(s.rtp_targets, hamlets, "station.rtp_targets"), s.rtp_ttl))
    return outputs


def setup(app: web.Application, config: Config) -> None:
    store, clock = app[STORE], app[CLOCK]
    store.migrations.extend(MIGRATIONS)
    zones = {h: set(names) for h, names in parse_map(config.station.zones, list(config.commune.hamlets),
                                                      "station.zones").items()}  # fmt: skip

    async def record(item: Item, proofs: list[Proof]) -> None:
        await store.call(report.record, item, proofs)

    station = Station(build_outputs(app, config), zones, record)
    relays = Relays(store, station, clock, app[NOTIFIER], timezone=config.broadcasts.timezone,
                    clips=Path(config.audio.cache_dir) / "clips", grace=config.schedules.grace)  # fmt: skip
    app[SCHEDULER].add(Job("station relays", config.schedules.grace, relays.next_at, relays.start_due,
                           by_the_clock=True))  # fmt: skip
    app[LOOPS].on_stop(relays.close)
    app[STATION] = StationService(station, store, clock, config.broadcasts.timezone, relays)
    # before anything else (the store, the modems): the relays off, whatever a power cut left them in
    app.cleanup_ctx.insert(0, _relays_ctx)
    app.cleanup_ctx.append(_sources_ctx)


async def _relays_ctx(app: web.Application) -> AsyncIterator[None]:
    station = app[STATION].station
    try:
        await station.reset()
        log.info("amplifier relay switched off at start")
    except Exception:
        log.exception("could not switch the amplifier relay off at start")
    yield
    await station.reset()


async def _sources_ctx(app: web.Application) -> AsyncIterator[None]:
    station = app[STATION].station
    await station.start()  # the IP outputs' always-on sources: they reconnect on their own
    yield
    await station.stop()
