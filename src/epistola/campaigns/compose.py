"""The e-mail composer: turns claimed outbox rows into signed-off MIME bytes, or into a reasoned refusal.

Consent is checked here, at the moment of sending, not only when the segment was built: a customer who
withdrew since the campaign started is suppressed with the reason. Tracking links are minted for the
exact URLs in the rendered message, so a click can only ever lead where the message pointed.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from email.utils import parseaddr
from typing import Any

from sqlalchemy import Engine, select

from epistola.campaigns.variants import VariantKey, variant_keys
from epistola.clock import Clock
from epistola.consent.gate import ConsentGate, SendRequest
from epistola.consent.links import PrivacyLinks
from epistola.content.context import render_context
from epistola.content.mime import MailParts, build_message
from epistola.content.renditions import CompiledDesign
from epistola.content.templates import get_version_by_id
from epistola.delivery.ports import ClaimedMessage, Envelope, Skip
from epistola.feedback import purls, tracking
from epistola.feedback.deliverability import paused_domains
from epistola.store.schema import campaign_steps, campaigns, customers


class EmailComposer:
    """Implements `delivery.ports.Composer` for campaign e-mail."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock,
        sender: str,
        base_url: str,
        gate: ConsentGate | None = None,
        links: PrivacyLinks | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.sender = sender
        self.base_url = base_url
        # Consent policy, suppression lists and signed privacy links; `create_worker` passes the ones built
        # from settings, the defaults match the development settings.
        self.gate = gate or ConsentGate()
        self.envelope_sender = parseaddr(sender)[1]
        self.domain = self.envelope_sender.rpartition("@")[2] or "epistola.invalid"
        self.links = links or PrivacyLinks(
            keyring=self.gate.keyring, base_url=base_url, mailbox=f"unsubscribe@{self.domain}"
        )
        self._purposes: dict[int, str] = {}  # step -> purpose (marketing, service)
        self._designs: dict[int, tuple[CompiledDesign, dict[str, Any]]] = {}  # step -> design, campaign ctx
        self._purl_steps: dict[int, bool] = {}  # step -> whether its messages get a personal page

    def _design(self, conn: Any, step_id: int) -> tuple[CompiledDesign, dict[str, Any]]:
        if step_id not in self._designs:
            row = conn.execute(
                select(campaign_steps.c.template_version_id, campaigns.c.name, campaigns.c.id)
                .join(campaigns, campaigns.c.id == campaign_steps.c.campaign_id)
                .where(campaign_steps.c.id == step_id)
            ).one()
            version = get_version_by_id(conn, row.template_version_id)
            self._designs[step_id] = (CompiledDesign(version.design()), {"name": row.name, "id": row.id})
        return self._designs[step_id]

    def _variant_keys(
        self, conn: Any, messages: Sequence[ClaimedMessage], now: datetime
    ) -> dict[int, dict[int, VariantKey]]:
        """Per step, each customer's A/B key and segments, for designs whose variants depend on them."""
        out: dict[int, dict[int, VariantKey]] = {}
        for step_id in {m.step_id for m in messages}:
            design, campaign = self._design(conn, step_id)
            ids = [m.customer_id for m in messages if m.step_id == step_id]
            out[step_id] = variant_keys(conn, design.design, campaign_id=campaign["id"], customer_ids=ids, now=now)
        return out

    def _purpose(self, conn: Any, step_id: int) -> str:
        if step_id not in self._purposes:
            purpose = conn.execute(select(campaign_steps.c.purpose).where(campaign_steps.c.id == step_id)).scalar()
            self._purposes[step_id] = purpose or "marketing"
        return self._purposes[step_id]

    def _requests(self, conn: Any, messages: Sequence[ClaimedMessage], people: dict[int, Any]) -> list[SendRequest]:
        """What the consent gate needs to know about each message (see `epistola.consent.gate`)."""
        return [
            SendRequest(
                key=m.id,
                customer_id=m.customer_id,
                channel="email",
                purpose=self._purpose(conn, m.step_id),
                country=(people.get(m.customer_id) or {}).get("country"),
                address=m.recipient or (people.get(m.customer_id) or {}).get("email"),
            )
            for m in messages
        ]

    def _privacy_headers(self, conn: Any, m: ClaimedMessage) -> dict[str, str]:
        """List-Unsubscribe and one-click POST (RFC 2369, RFC 8058) on every marketing e-mail."""
        if self._purpose(conn, m.step_id) != "marketing":
            return {}
        return self.links.email_headers(m.customer_id, m.id)

    def compose(self, messages: Sequence[ClaimedMessage]) -> Sequence[Envelope | Skip]:
        now = self.clock()
        out: list[Envelope | Skip] = []
        planned: dict[int, dict[str, str]] = {}
        with self.engine.begin() as conn:
            ids = sorted({m.customer_id for m in messages})
            people = {
                r["id"]: dict(r) for r in conn.execute(select(customers).where(customers.c.id.in_(ids))).mappings()
            }
            blocked = self.gate.check(conn, self._requests(conn, messages, people), now)
            # Tokens are stored at the end: SQLite takes its write lock at the first INSERT and holds it to the
            # commit, and rendering a batch takes long enough to stall every other worker's commits.
            opens = tracking.plan_message_tokens(m.id for m in messages)
            for step_id in {m.step_id for m in messages} - set(self._purl_steps):
                self._purl_steps[step_id] = purls.wants_purl(conn, step_id)
            pages = tracking.plan_message_tokens(m.id for m in messages if self._purl_steps[m.step_id])
            paused = paused_domains(conn, "email")  # complaint rate too high: no marketing there for now
            keys = self._variant_keys(conn, messages, now)
            for m in messages:
                person = people.get(m.customer_id)
                if person is None or person.get("merged_into") is not None:
                    out.append(Skip(message_id=m.id, reason="customer no longer exists"))
                    continue
                if m.id in blocked:
                    out.append(Skip(message_id=m.id, reason=blocked[m.id]))
                    continue
                recipient = m.recipient or person.get("email")
                if not recipient:
                    out.append(Skip(message_id=m.id, reason="no e-mail address"))
                    continue
                domain = recipient.rpartition("@")[2].lower()
                if domain in paused and self._purpose(conn, m.step_id) == "marketing":
                    out.append(Skip(message_id=m.id, reason=f"marketing to {domain} is paused: {paused[domain]}"))
                    continue
                design, campaign = self._design(conn, m.step_id)
                tokens: dict[str, str] = {}

                def track(url: str, tokens: dict[str, str] = tokens, mid: int = m.id) -> str:
                    tokens.update(tracking.plan_click_tokens(mid, [url]))
                    return tracking.click_url(self.base_url, tokens[url]) if url in tokens else url

                context = render_context(
                    person,
                    today=now.date(),
                    campaign=campaign,
                    message_id=m.id,
                    links={
                        "pixel": tracking.pixel_url(self.base_url, opens[m.id]),
                        "preferences": self.links.preferences_url(m.customer_id, m.id),
                        "purl": purls.purl_url(self.base_url, pages[m.id]) if m.id in pages else None,
                    },
                    ab=keys[m.step_id][m.customer_id][0],
                    segments=keys[m.step_id][m.customer_id][1],
                )
                rendered = design.email(context, track)
                planned[m.id] = tokens
                data = build_message(
                    MailParts(
                        sender=self.sender,
                        recipient=recipient,
                        recipient_name=context["customer"]["full_name"],
                        subject=rendered.subject,
                        text=rendered.text,
                        html=rendered.html,
                        html_pieces=rendered.html_pieces,
                        date=now,
                        message_id=f"{m.id}.{secrets.token_hex(8)}@{self.domain}",
                        headers=self._privacy_headers(conn, m),
                    )
                )
                out.append(Envelope(message_id=m.id, sender=self.envelope_sender, recipient=recipient, data=data))
            tracking.store_message_tokens(conn, "open", opens, now)
            tracking.store_message_tokens(conn, purls.KIND, pages, now)
            tracking.store_click_tokens(conn, planned, now)
        return out
