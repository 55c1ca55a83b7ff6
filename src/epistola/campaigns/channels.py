"""Composers for the channels after e-mail: SMS, print, the in-app inbox and webhooks.

The same discipline as the e-mail composer (`campaigns.compose`): the customer is read at send time,
the consent gate decides per channel and purpose (SMS → ``sms``, print → ``post``, inbox → ``web``,
webhook → ``push``), links are tracked, and what goes to the channel adapter is ready bytes. The
content comes from the design's renditions (`content.renditions.CompiledDesign`); a design without the
rendition a step needs fails that step's messages with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, select

from epistola.campaigns.letters import DesignLetterRenderer
from epistola.clock import Clock
from epistola.consent.gate import ConsentGate, SendRequest
from epistola.content.context import render_context
from epistola.content.renditions import CompiledDesign
from epistola.content.templates import get_version_by_id
from epistola.delivery.ports import ClaimedMessage, Composer, Envelope, Skip
from epistola.delivery.printing import Letter
from epistola.delivery.webhook import payload
from epistola.errors import PermanentDeliveryError
from epistola.feedback import tracking
from epistola.store.schema import campaign_steps, campaigns, customers

#: The consent ledger's name for each delivery channel.
CONSENT_CHANNEL: Mapping[str, str] = {
    "email": "email",
    "sms": "sms",
    "print": "post",
    "inbox": "web",
    "webhook": "push",
}


class ChannelComposer:
    """Implements `delivery.ports.Composer` for sms, print, inbox and webhook messages."""

    def __init__(
        self, engine: Engine, *, clock: Clock, base_url: str, sms_sender: str, gate: ConsentGate | None = None
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.base_url = base_url
        self.sms_sender = sms_sender
        self.gate = gate or ConsentGate()
        self._steps: dict[int, tuple[CompiledDesign, dict[str, Any], str]] = {}  # design, campaign ctx, purpose

    def _step(self, conn: Any, step_id: int) -> tuple[CompiledDesign, dict[str, Any], str]:
        if step_id not in self._steps:
            row = conn.execute(
                select(campaign_steps.c.template_version_id, campaign_steps.c.purpose, campaigns.c.name, campaigns.c.id)
                .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
                .where(campaign_steps.c.id == step_id)
            ).one()
            version = get_version_by_id(conn, row.template_version_id)
            design = CompiledDesign(version.design())
            self._steps[step_id] = (design, {"name": row.name, "id": row.id}, row.purpose or "marketing")
        return self._steps[step_id]

    def compose(self, messages: Sequence[ClaimedMessage]) -> Sequence[Envelope | Skip]:
        now = self.clock()
        out: list[Envelope | Skip] = []
        planned: dict[int, dict[str, str]] = {}
        with self.engine.begin() as conn:
            ids = sorted({m.customer_id for m in messages})
            people = {
                r["id"]: dict(r) for r in conn.execute(select(customers).where(customers.c.id.in_(ids))).mappings()
            }
            requests = [
                SendRequest(
                    key=m.id,
                    customer_id=m.customer_id,
                    channel=CONSENT_CHANNEL.get(m.channel, m.channel),
                    purpose=self._step(conn, m.step_id)[2],
                    country=(people.get(m.customer_id) or {}).get("country"),
                    address=_address(m, people.get(m.customer_id) or {}),
                )
                for m in messages
            ]
            blocked = self.gate.check(conn, requests, now)
            for m in messages:
                person = people.get(m.customer_id)
                if person is None or person.get("merged_into") is not None:
                    out.append(Skip(message_id=m.id, reason="customer no longer exists"))
                    continue
                if m.id in blocked:
                    out.append(Skip(message_id=m.id, reason=blocked[m.id]))
                    continue
                design, campaign, _ = self._step(conn, m.step_id)
                tokens: dict[str, str] = {}

                def track(url: str, tokens: dict[str, str] = tokens, mid: int = m.id) -> str:
                    tokens.update(tracking.plan_click_tokens(mid, [url]))
                    return tracking.click_url(self.base_url, tokens[url]) if url in tokens else url

                context = render_context(person, today=now.date(), campaign=campaign, message_id=m.id)
                result = self._one(m, person, design, context, track)
                planned[m.id] = tokens
                out.append(result)
            tracking.store_click_tokens(conn, planned, now)
        return out

    def _one(
        self, m: ClaimedMessage, person: dict[str, Any], design: CompiledDesign, context: dict[str, Any], track: Any
    ) -> Envelope | Skip:
        if m.channel == "sms":
            phone = m.recipient or person.get("phone")
            if not phone:
                return Skip(message_id=m.id, reason="no phone number")
            text = design.sms(context, track).text
            return Envelope(message_id=m.id, sender=self.sms_sender, recipient=phone, data=text.encode("utf-8"))
        if m.channel == "print":
            if not (person.get("street") or person.get("city")) or not context["customer"].get("full_name"):
                return Skip(message_id=m.id, reason="no postal address")
            letter = Letter(
                message_id=m.id,
                name=context["customer"]["full_name"],
                address=tuple(line for line in str(person.get("street") or "").split("\n") if line),
                postcode=str(person.get("postcode") or ""),
                city=str(person.get("city") or ""),
                country=str(person.get("country") or ""),
                paper=design.paper(context),
                source=design.letter(context),
            )
            return Envelope(message_id=m.id, sender="print", recipient="post", data=letter.to_json())
        if m.channel == "inbox":
            subject, text, html = _texts(design, context, track)
            data = json.dumps({"customer_id": m.customer_id, "subject": subject, "text": text, "html": html})
            return Envelope(message_id=m.id, sender="inbox", recipient=str(m.customer_id), data=data.encode())
        if m.channel == "webhook":
            subject, text, _ = _texts(design, context, track)
            body = payload(
                message_id=m.id,
                campaign=context["campaign"],
                customer={"id": m.customer_id, "locale": context["customer"].get("locale")},
                subject=subject,
                text=text,
            )
            return Envelope(message_id=m.id, sender="webhook", recipient=m.recipient or "", data=body)
        raise PermanentDeliveryError(f"message {m.id}: no composer for channel {m.channel!r}")


def _address(m: ClaimedMessage, person: Mapping[str, Any]) -> str | None:
    if m.channel == "sms":
        return m.recipient or person.get("phone")
    return None


def _texts(design: CompiledDesign, context: dict[str, Any], track: Any) -> tuple[str, str, str | None]:
    """Subject, text and HTML for the inbox and webhooks: the e-mail rendition, or the web page."""
    if "email" in design.channels:
        rendered = design.email(context, track)
        return rendered.subject, rendered.text, rendered.html
    html = design.web(context, track)
    return str(context["campaign"].get("name") or ""), "", html


class ByChannel:
    """A `Composer` that hands each message to the composer of its channel (a batch may mix channels)."""

    def __init__(self, composers: Mapping[str, Composer]) -> None:
        self.composers = dict(composers)

    def compose(self, messages: Sequence[ClaimedMessage]) -> Sequence[Envelope | Skip]:
        groups: dict[str, list[ClaimedMessage]] = {}
        for m in messages:
            groups.setdefault(m.channel, []).append(m)
        out: list[Envelope | Skip] = []
        for channel, group in groups.items():
            composer = self.composers.get(channel)
            if composer is None:
                raise PermanentDeliveryError(f"no composer for channel {channel!r}")
            out.extend(composer.compose(group))
        return out


__all__ = ["CONSENT_CHANNEL", "ByChannel", "ChannelComposer", "DesignLetterRenderer"]
