"""The routing rule ([routing]): which transport may take which message now. Pure: no SQL, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from gateway.core.priority import SMS, Priority
from gateway.sms.config import RoutingConfig

EVERY = tuple(sorted(int(p) for p in SMS.values()))
# a carrier's SIM is a preference for what can wait for it; an alert goes through whichever is free
CARRIER_PREFERRED = tuple(p for p in EVERY if p != Priority.URGENT)
BULK = frozenset({int(Priority.NORMAL), int(Priority.BULK)})  # reminders and bulk


@dataclass(frozen=True)
class Link:
    """A transport as routing sees it."""

    name: str
    smpp: bool = False
    carrier: str = ""  # its SIM's carrier ("" unknown, or SMPP)
    down_since: float | None = None  # None: connected


@dataclass(frozen=True)
class Rule:
    """What one transport may take from the queue now: the sets the claim tests each message against.
    The defaults admit everything (one transport, no policy)."""

    priorities: tuple[int, ...] = EVERY
    # the other connected transports: what one of them holds is in its hands, not this one's
    others: tuple[str, ...] = ()
    # routes this one may not take: a reply bound to another connected transport
    routed_away: tuple[str, ...] = ()
    # carriers another connected modem's SIM has and this one's not, and the priorities that applies to
    elsewhere: tuple[str, ...] = ()
    carrier_priorities: tuple[int, ...] = CARRIER_PREFERRED

    def admits(self, priority: int, route: str | None = None, carrier: str | None = None,
               holder: str | None = None) -> bool:  # fmt: skip
        """One message against this rule: the test the claim makes in SQL (queue.claim), row by row."""
        return (
            priority in self.priorities
            and (holder is None or holder not in self.others)
            and (route is None or route not in self.routed_away)
            and (not carrier or carrier not in self.elsewhere or priority not in self.carrier_priorities)
        )


@dataclass(frozen=True)
class Routing:
    """The [routing] policy over the transports as they are at `now`."""

    config: RoutingConfig
    links: tuple[Link, ...]
    now: float

    @cached_property
    def up(self) -> tuple[Link, ...]:
        """The connected transports, in the configured order."""
        return tuple(link for link in self.links if link.down_since is None)

    def bulk_falls_back(self) -> bool:
        """Reminders and bulk may go through the modems: every SMPP link down `bulk_fallback_after`."""
        after = self.config.bulk_fallback_after
        smpp = [link for link in self.links if link.smpp]
        gone = min((self.now - s.down_since if s.down_since is not None else 0.0) for s in smpp) if smpp else 0.0
        return after > 0 and gone >= after

    def rule(self, name: str) -> Rule:
        """What the transport `name` may take now."""
        (me,) = (link for link in self.links if link.name == name)
        r = self.config
        allowed = set(EVERY)
        # alerts through one kind only while one of that kind is up; else through whatever is
        if r.alerts == "smpp" and not me.smpp and any(link.smpp for link in self.up):
            allowed.discard(Priority.URGENT)
        if r.alerts == "modems" and me.smpp and any(not link.smpp for link in self.up):
            allowed.discard(Priority.URGENT)
        # bulk through SMPP when there is one; the modems take it only after SMPP was down long enough
        if r.bulk == "smpp" and not me.smpp and any(link.smpp for link in self.links) and not self.bulk_falls_back():
            allowed -= BULK
        elsewhere: set[str] = set()
        if r.prefer_carrier and not me.smpp:
            carriers = {link.carrier for link in self.up if not link.smpp and link is not me and link.carrier}
            elsewhere = carriers - {me.carrier}
        others = tuple(link.name for link in self.up if link is not me)
        return Rule(
            priorities=tuple(sorted(allowed)),
            others=others,
            # a reply waits for the transport its question came by, unless that one is down (or gone)
            routed_away=others if r.replies == "same" else (),
            elsewhere=tuple(sorted(elsewhere)),
        )

    def transports_for(self, priority: int, route: str | None = None, carrier: str | None = None) -> list[str]:
        """The connected transports that may take a message now, in preference: the one a reply is bound
        to, then a SIM of the recipient's carrier, then the others in the configured order (whichever of
        these is free first sends it)."""
        fit = [link for link in self.up if self.rule(link.name).admits(priority, route, carrier)]
        by_carrier = bool(carrier) and self.config.prefer_carrier and priority in CARRIER_PREFERRED
        fit.sort(key=lambda link: (link.name != route, not (by_carrier and link.carrier == carrier)))
        return [link.name for link in fit]
