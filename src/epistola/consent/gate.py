"""The check every message passes at the moment it is about to be sent, on every channel.

Five questions, in this order, each with a reason the outbox records when the answer is no:

1. Was the customer erased? Nothing goes to an erased customer, whatever else the data says.
2. Is the address suppressed, globally or for this channel (keyed hash lookup)?
3. Does the consent policy for this channel, purpose and the customer's country allow it, given the
   state of the ledger right now (not when the segment was counted)?
4. For marketing of a campaign with a topic: did the customer keep that topic ticked in the preference
   centre? No stored choice means every topic (the page shows them all ticked), so it may go.
5. For marketing: does the frequency the customer chose in the preference centre (weekly, monthly)
   leave room for one more? A message that would exceed it is suppressed, not postponed. A message
   refused for its topic takes no room.

Composers for every channel call `ConsentGate.check` with a batch; it costs one query per question and
batch, not per message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from epistola.config import DEFAULT_SECRET
from epistola.consent import suppression
from epistola.consent.keys import Keyring
from epistola.consent.ledger import current_state
from epistola.consent.policy import ConsentPolicy, parse_policy
from epistola.store.schema import campaign_steps, campaigns, customer_preferences, erasures, messages

if TYPE_CHECKING:
    from epistola.config import Settings


@dataclass(frozen=True, kw_only=True)
class SendRequest:
    """One message about to go out.

    `key` is the outbox message id: answers are keyed by it, and the gate finds the message's campaign
    (for its topic) through it. A key that is no message id gets no topic check.
    """

    key: int
    customer_id: int
    channel: str
    purpose: str
    country: str | None
    address: str | None  # where it goes on this channel (e-mail address, phone); None for post, push


#: At most one marketing message per window, by the customer's choice; "any" has no window.
FREQUENCY_WINDOWS: Mapping[str, timedelta] = {"weekly": timedelta(days=7), "monthly": timedelta(days=30)}
# Messages that count as contact: handed over, or maybe handed over.
_CONTACTED = ("sending", "sent", "delivered", "bounced", "uncertain")


def frequency_blocks(
    requests: Sequence[SendRequest],
    choices: Mapping[int, str],
    last_contact: Mapping[int, datetime],
    now: datetime,
) -> dict[int, str]:
    """{key: reason} for the marketing requests the customers' chosen frequency has no room for.

    Within the batch the earliest key goes first: two campaigns reaching a weekly customer on the same
    day send one message, not two.
    """
    latest = dict(last_contact)
    blocked: dict[int, str] = {}
    for r in sorted(requests, key=lambda r: r.key):
        choice = choices.get(r.customer_id, "any")
        window = FREQUENCY_WINDOWS.get(choice)
        if r.purpose != "marketing" or window is None:
            continue
        seen = latest.get(r.customer_id)
        if seen is not None and seen > now - window:
            blocked[r.key] = f"frequency preference {choice}: a marketing message went out within {window.days} days"
        else:
            latest[r.customer_id] = now
    return blocked


def topic_blocks(
    requests: Sequence[SendRequest], topic_of: Mapping[int, str], chosen: Mapping[int, Collection[str]]
) -> dict[int, str]:
    """{key: reason} for the marketing requests about a topic the customer did not keep.

    `topic_of` maps keys to their campaign's topic (none: not about a topic); `chosen` maps customers who
    saved their choice to the topics they kept. A customer who never saved one gets every topic.
    """
    blocked: dict[int, str] = {}
    for r in requests:
        topic = topic_of.get(r.key)
        kept = chosen.get(r.customer_id)
        if r.purpose == "marketing" and topic is not None and kept is not None and topic not in kept:
            blocked[r.key] = f"topic preference: {topic} unsubscribed"
    return blocked


def _preferences(conn: Connection, customer_ids: Iterable[int]) -> tuple[dict[int, frozenset[str]], dict[int, str]]:
    """From one read of the preference centre: the topics each customer who saved a choice kept, and the
    frequency of those who limited it."""
    ids = sorted(set(customer_ids))
    chosen: dict[int, frozenset[str]] = {}
    choices: dict[int, str] = {}
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(
                customer_preferences.c.customer_id, customer_preferences.c.topics, customer_preferences.c.frequency
            ).where(customer_preferences.c.customer_id.in_(ids[start : start + 900]))
        )
        for r in rows:
            chosen[int(r.customer_id)] = frozenset(str(t) for t in r.topics or ())
            if r.frequency in FREQUENCY_WINDOWS:
                choices[int(r.customer_id)] = str(r.frequency)
    return chosen, choices


def _topics_of(conn: Connection, requests: Sequence[SendRequest]) -> dict[int, str]:
    """Each message's campaign topic, where it has one."""
    keys = sorted({r.key for r in requests})
    topic_of: dict[int, str] = {}
    for start in range(0, len(keys), 900):
        rows = conn.execute(
            select(messages.c.id, campaigns.c.topic)
            .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
            .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
            .where(messages.c.id.in_(keys[start : start + 900]), campaigns.c.topic.is_not(None))
        )
        topic_of.update({int(r.id): str(r.topic) for r in rows})
    return topic_of


def _last_marketing(conn: Connection, choices: Mapping[int, str], now: datetime) -> dict[int, datetime]:
    """When each of the customers who limited their frequency last had a marketing message."""
    capped = sorted(choices)
    last: dict[int, datetime] = {}
    since = now - max(FREQUENCY_WINDOWS.values())
    # `sending` and `uncertain` rows have no `sent_at`: their last change is when they went
    when = func.coalesce(messages.c.sent_at, messages.c.updated_at, type_=messages.c.sent_at.type)
    for start in range(0, len(capped), 900):
        rows = conn.execute(
            select(messages.c.customer_id, func.max(when, type_=messages.c.sent_at.type).label("at"))
            .join(campaign_steps, campaign_steps.c.id == messages.c.step_id)
            .where(
                messages.c.customer_id.in_(capped[start : start + 900]),
                messages.c.state.in_(_CONTACTED),
                campaign_steps.c.purpose == "marketing",
                when >= since,
            )
            .group_by(messages.c.customer_id)
        )
        last.update({int(r.customer_id): r.at for r in rows if r.at is not None})
    return last


def erased_among(conn: Connection, customer_ids: Iterable[int]) -> set[int]:
    ids = list(customer_ids)
    out: set[int] = set()
    for start in range(0, len(ids), 900):
        out.update(
            conn.execute(
                select(erasures.c.customer_id).where(erasures.c.customer_id.in_(ids[start : start + 900]))
            ).scalars()
        )
    return out


class ConsentGate:
    def __init__(self, *, policy: ConsentPolicy | None = None, keyring: Keyring | None = None) -> None:
        self.policy = policy or ConsentPolicy()
        # The development secret, as `Settings` defaults to; `from_settings` is what production uses.
        self.keyring = keyring or Keyring.single(DEFAULT_SECRET)

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsentGate:
        return cls(policy=parse_policy(settings.consent_policy), keyring=Keyring.from_settings(settings))

    def check(self, conn: Connection, requests: Sequence[SendRequest], now: datetime) -> dict[int, str]:
        """{key: reason} for every request that must not be sent; the others may go."""
        blocked: dict[int, str] = {}
        erased = erased_among(conn, {r.customer_id for r in requests})
        for r in requests:
            if r.customer_id in erased:
                blocked[r.key] = "customer erased (data-subject request)"
        pending = [r for r in requests if r.key not in blocked]

        idents: dict[int, str] = {}
        for r in pending:
            kind = suppression.CHANNEL_IDENTIFIER.get(r.channel)
            if kind is not None and r.address:
                idents[r.key] = suppression.identifier(kind, r.address)
        found = suppression.lookup(conn, self.keyring, set(idents.values()))
        for r in pending:
            hit = suppression.blocking(found.get(idents.get(r.key, ""), []), r.channel)
            if hit is not None:
                where = "all channels" if hit.scope == "all" else r.channel
                blocked[r.key] = f"address suppressed for {where} ({hit.reason})"
        pending = [r for r in pending if r.key not in blocked]

        groups: dict[tuple[str, str], list[SendRequest]] = defaultdict(list)
        for r in pending:
            groups[(r.channel, r.purpose)].append(r)
        for (channel, purpose), members in groups.items():
            states = current_state(conn, {r.customer_id for r in members}, channel=channel, purpose=purpose, now=now)
            for r in members:
                decision = self.policy.decide(channel, purpose, r.country, states.get(r.customer_id))
                if not decision.allowed:
                    blocked[r.key] = decision.reason

        marketing = [r for r in requests if r.key not in blocked and r.purpose == "marketing"]
        if marketing:
            chosen, choices = _preferences(conn, {r.customer_id for r in marketing})
            if chosen:  # nobody who saved a choice: every topic may go
                blocked.update(topic_blocks(marketing, _topics_of(conn, marketing), chosen))
                marketing = [r for r in marketing if r.key not in blocked]
            if marketing and choices:
                blocked.update(frequency_blocks(marketing, choices, _last_marketing(conn, choices, now), now))
        return blocked
