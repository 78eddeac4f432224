"""The [routing] rule: which transport may take which message, each key's choices; the queue's claim agrees."""

from __future__ import annotations

from typing import Any

import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.store import migrate
from gateway.sms import migrations, queue
from gateway.sms.config import RoutingConfig
from gateway.sms.encoding import prepare
from gateway.sms.routing import Link, Routing

NOW = 1_000_000.0
ALERT, REPLY, REMINDER, BULK = (int(queue.PRIORITIES[p]) for p in ("alert", "reply", "reminder", "bulk"))
MODEMS = (Link("modem 1", carrier="viettel"), Link("modem 2", carrier="mobifone"))
SMPP = Link("smpp", smpp=True)


def down(link: Link, seconds: float) -> Link:
    return Link(link.name, link.smpp, link.carrier, NOW - seconds)


def takers(
    *links: Link, priority: int, route: str | None = None, carrier: str | None = None, **config: Any
) -> list[str]:
    return Routing(RoutingConfig(**config), links, NOW).transports_for(priority, route, carrier)


# ---- alerts ------------------------------------------------------------------------------------------


def test_alerts_all_go_through_every_transport_and_ignore_the_carrier() -> None:
    # no alert waits for a SIM of its carrier: the viettel modem sends to mobifone numbers too
    assert takers(*MODEMS, SMPP, priority=ALERT, carrier="mobifone") == ["modem 1", "modem 2", "smpp"]


def test_alerts_smpp_go_through_smpp_and_through_the_modems_only_while_it_is_down() -> None:
    assert takers(*MODEMS, SMPP, priority=ALERT, alerts="smpp") == ["smpp"]
    assert takers(*MODEMS, down(SMPP, 1), priority=ALERT, alerts="smpp") == ["modem 1", "modem 2"]


def test_alerts_modems_go_through_the_modems_and_through_smpp_only_while_every_modem_is_down() -> None:
    assert takers(*MODEMS, SMPP, priority=ALERT, alerts="modems") == ["modem 1", "modem 2"]
    assert takers(MODEMS[0], down(MODEMS[1], 1), SMPP, priority=ALERT, alerts="modems") == ["modem 1"]
    assert takers(down(MODEMS[0], 1), down(MODEMS[1], 1), SMPP, priority=ALERT, alerts="modems") == ["smpp"]


# ---- reminders and bulk ------------------------------------------------------------------------------


def test_reminders_and_bulk_go_through_smpp_when_there_is_one() -> None:
    for priority in (REMINDER, BULK):
        assert takers(*MODEMS, SMPP, priority=priority) == ["smpp"]
    assert takers(*MODEMS, SMPP, priority=REPLY) == ["modem 1", "modem 2", "smpp"]  # not replies
    assert takers(*MODEMS, priority=BULK) == ["modem 1", "modem 2"]  # no SMPP configured: the modems


def test_bulk_waits_for_smpp_then_falls_back_to_the_modems_after_bulk_fallback_after() -> None:
    assert takers(*MODEMS, down(SMPP, 599), priority=BULK, bulk_fallback_after=600) == []
    assert takers(*MODEMS, down(SMPP, 600), priority=BULK, bulk_fallback_after=600) == ["modem 1", "modem 2"]
    assert takers(*MODEMS, down(SMPP, 10**6), priority=BULK, bulk_fallback_after=0) == []  # 0: never
    # with two SMPP links, the modems wait while either is up or down for less than the delay
    other = Link("smpp 2", smpp=True)
    assert takers(*MODEMS, down(SMPP, 900), down(other, 30), priority=REMINDER) == []
    assert takers(*MODEMS, down(SMPP, 900), other, priority=REMINDER) == ["smpp 2"]


def test_bulk_any_goes_through_whichever_transport() -> None:
    assert takers(*MODEMS, SMPP, priority=BULK, bulk="any") == ["modem 1", "modem 2", "smpp"]


# ---- replies -----------------------------------------------------------------------------------------


def test_a_reply_goes_the_way_its_question_came_and_any_other_way_when_that_one_is_down() -> None:
    assert takers(*MODEMS, SMPP, priority=REPLY, route="modem 2") == ["modem 2"]
    assert takers(*MODEMS, SMPP, priority=REPLY, route="smpp") == ["smpp"]
    assert takers(MODEMS[0], down(MODEMS[1], 1), SMPP, priority=REPLY, route="modem 2") == ["modem 1", "smpp"]
    # the transport it came by is no longer configured: any
    assert takers(*MODEMS, priority=REPLY, route="modem 9") == ["modem 1", "modem 2"]


def test_replies_any_go_through_whichever_transport_the_one_it_came_by_first() -> None:
    assert takers(*MODEMS, SMPP, priority=REPLY, route="smpp", replies="any") == ["smpp", "modem 1", "modem 2"]


# ---- carriers ----------------------------------------------------------------------------------------


def test_a_sim_of_the_recipients_carrier_sends_to_it_others_when_there_is_none() -> None:
    assert takers(*MODEMS, priority=REMINDER, carrier="viettel") == ["modem 1"]
    assert takers(*MODEMS, priority=REPLY, carrier="mobifone") == ["modem 2"]
    assert takers(*MODEMS, priority=REMINDER, carrier="vinaphone") == ["modem 1", "modem 2"]  # no SIM of theirs
    assert takers(*MODEMS, priority=REMINDER, carrier=None) == ["modem 1", "modem 2"]  # a number of no carrier
    # a preference, never a wait: that SIM's modem is down
    assert takers(down(MODEMS[0], 1), MODEMS[1], priority=REMINDER, carrier="viettel") == ["modem 2"]
    # SMPP reaches every carrier at one price: the preference is between SIMs
    assert takers(*MODEMS, SMPP, priority=REPLY, carrier="mobifone") == ["modem 2", "smpp"]


def test_two_sims_of_one_carrier_share_its_numbers_and_prefer_carrier_false_lets_any_send() -> None:
    twin = Link("modem 3", carrier="viettel")
    assert takers(*MODEMS, twin, priority=REMINDER, carrier="viettel") == ["modem 1", "modem 3"]
    assert takers(*MODEMS, priority=REMINDER, carrier="viettel", prefer_carrier=False) == ["modem 1", "modem 2"]


def test_a_message_held_by_a_connected_transport_is_its_own_one_held_by_a_gone_one_is_anyones() -> None:
    routing = Routing(RoutingConfig(), (*MODEMS, down(SMPP, 1)), NOW)
    assert not routing.rule("modem 1").admits(REPLY, holder="modem 2")
    assert routing.rule("modem 1").admits(REPLY, holder="modem 1")
    assert routing.rule("modem 1").admits(REPLY, holder="smpp")  # down: what it held moves
    assert routing.rule("modem 1").admits(REPLY, holder="modem 9")  # no longer configured


# ---- the queue's claim takes exactly what the rule admits ---------------------------------------------

NAMES = ("modem 1", "modem 2", "smpp", "modem 9")
NUMBERS = {"viettel": "+84961234567", "mobifone": "+84901234567", "vinaphone": "+84911234567", None: "+8412345"}

links = st.tuples(
    st.sampled_from(["viettel", "mobifone", ""]), st.sampled_from(["viettel", "mobifone", ""]),
    st.booleans(), st.sampled_from([None, NOW - 5, NOW - 3600]), st.sampled_from([None, NOW - 5]),
    st.sampled_from([None, NOW - 5]),
).map(lambda t: (Link("modem 1", carrier=t[0], down_since=t[4]), Link("modem 2", carrier=t[1], down_since=t[5]))
      + ((Link("smpp", smpp=True, down_since=t[3]),) if t[2] else ()))  # fmt: skip
configs = st.builds(
    RoutingConfig, alerts=st.sampled_from(["all", "smpp", "modems"]), bulk=st.sampled_from(["smpp", "any"]),
    bulk_fallback_after=st.sampled_from([0.0, 600.0]), replies=st.sampled_from(["same", "any"]),
    prefer_carrier=st.booleans(),
)  # fmt: skip
messages = st.lists(
    st.tuples(st.sampled_from([ALERT, REPLY, REMINDER, BULK]), st.sampled_from([None, *NAMES]),
              st.sampled_from(list(NUMBERS)), st.sampled_from([None, *NAMES])),
    min_size=1, max_size=12,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(config=configs, links=links, messages=messages)
def test_the_claim_takes_exactly_the_messages_the_rule_admits(
    config: RoutingConfig, links: tuple[Link, ...], messages: list[tuple[int, str | None, str | None, str | None]]
) -> None:
    routing = Routing(config, links, NOW)
    for link in routing.up:
        db = sqlite_utils.Database(memory=True)
        migrate(db, [migrations.MIGRATIONS])
        expected = set()
        for priority, route, carrier, holder in messages:
            (mid,) = queue.enqueue(db, [NUMBERS[carrier]], prepare("Họp thôn", "auto"), priority, "t", NOW - 1)
            db.execute("update outbox set route=?, holder=?, status=? where id=?",
                       [route, holder, "queued" if holder is None else "sending", mid])  # fmt: skip
            if routing.rule(link.name).admits(priority, route, carrier, holder):
                expected.add(mid)
        claimed = queue.claim(db, link.name, 100, NOW, routing.rule(link.name)).rows
        assert {r["id"] for r in claimed} == expected, link.name
