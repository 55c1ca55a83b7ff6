"""Consent at send time, on both engines: the policy, suppression lists and erasures decide every message,
and every marketing e-mail carries its privacy links and headers."""

from __future__ import annotations

import itertools
from datetime import timedelta
from email import message_from_bytes, policy
from typing import Any

import pytest
from consent_fixtures import add_customers, claimed, queue_campaign
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert

from epistola.app import Epistola
from epistola.campaigns.compose import EmailComposer
from epistola.config import load_settings
from epistola.consent import suppression
from epistola.consent.gate import ConsentGate
from epistola.consent.keys import Keyring
from epistola.consent.ledger import append_entries
from epistola.consent.links import PrivacyLinks
from epistola.consent.model import STATUSES, ConsentEntry, LedgerRow, replay
from epistola.consent.policy import parse_policy
from epistola.consent.tokens import TokenKind, verify
from epistola.delivery.ports import Envelope, Skip
from epistola.store.schema import erasures

_addresses = itertools.count(1)


def composer(app: Epistola, *, consent_policy: str = "") -> EmailComposer:
    s = app.settings if not consent_policy else load_settings(**{**_overrides(app), "consent_policy": consent_policy})
    return EmailComposer(
        app.engine,
        clock=app.clock,
        sender=app.settings.mail_from,
        base_url=app.settings.public_base_url,
        gate=ConsentGate.from_settings(s),
        links=PrivacyLinks.from_settings(s),
    )


def _overrides(app: Epistola) -> dict[str, Any]:
    return {"env": "test", "database_url": app.settings.database_url}


def grant(customer_id: int, app: Epistola, *, status: str = "granted", purpose: str = "marketing") -> ConsentEntry:
    return ConsentEntry(
        customer_id=customer_id,
        channel="email",
        purpose=purpose,
        status=status,  # type: ignore[arg-type]
        source="test",
        recorded_at=app.clock() - timedelta(days=1),
    )


def by_customer(results: list[Envelope | Skip], queued_ids: dict[int, int]) -> dict[int, Envelope | Skip]:
    owner = {mid: cid for cid, mid in queued_ids.items()}
    return {owner[r.message_id]: r for r in results}


def test_marketing_mail_carries_one_click_unsubscribe_and_the_preference_link(app: Epistola) -> None:
    now = app.clock()
    with app.engine.begin() as conn:
        (cid,) = add_customers(conn, [{"email": "anna@example.com", "first_name": "Anna", "country": "PL"}], now)
        append_entries(conn, [grant(cid, app)])
        marketing = queue_campaign(conn, [cid], now)
        service = queue_campaign(conn, [cid], now, purpose="service")
        batch = claimed(conn, marketing) + claimed(conn, service)
    results = composer(app).compose(batch)
    assert all(isinstance(r, Envelope) for r in results)
    keyring = Keyring.from_settings(app.settings)
    first, second = (message_from_bytes(r.data, policy=policy.default) for r in results if isinstance(r, Envelope))

    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (p.strip().strip("<>") for p in str(first["List-Unsubscribe"]).split(","))
    assert https.startswith(f"{app.settings.public_base_url}/unsubscribe/")
    claims = verify(keyring, TokenKind.UNSUBSCRIBE, https.rsplit("/", 1)[1])
    assert claims is not None and claims.customer_id == cid and claims.message_id == marketing.message_ids[cid]
    assert mailto.startswith("mailto:unsubscribe+") and mailto.endswith("@epistola.example?subject=unsubscribe")

    html = first.get_body(preferencelist=("html",)).get_content()
    text = first.get_body(preferencelist=("plain",)).get_content()
    preference_urls = [w for w in text.split() if "/preferences/" in w]
    assert len(preference_urls) == 1 and preference_urls[0] in html
    assert verify(keyring, TokenKind.PREFERENCES, preference_urls[0].rsplit("/", 1)[1]) is not None

    assert second["List-Unsubscribe"] is None, "service messages are not unsubscribed from"
    second_text = second.get_body(preferencelist=("plain",)).get_content()
    assert "/preferences/" in second_text, "but they do link the preferences"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("nothing", "email marketing needs opt-in: no consent recorded"),
        ("withdrawn", "email marketing consent withdrawn"),
        ("denied", "email marketing consent denied"),
        ("suppressed-email", "address suppressed for email (complaint)"),
        ("suppressed-all", "address suppressed for all channels (legal)"),
        ("erased", "customer erased (data-subject request)"),
    ],
)
def test_each_refusal_says_why(app: Epistola, setup: str, reason: str) -> None:
    now = app.clock()
    keyring = Keyring.from_settings(app.settings)
    with app.engine.begin() as conn:
        (cid,) = add_customers(conn, [{"email": "Ola.Nowak@Example.com", "country": "PL"}], now)
        if setup in ("withdrawn", "denied"):
            append_entries(conn, [grant(cid, app, status=setup)])
        elif setup != "nothing":
            append_entries(conn, [grant(cid, app)])
        if setup.startswith("suppressed"):
            scope, why = ("email", "complaint") if setup.endswith("email") else ("all", "legal")
            ident = suppression.identifier("email", "ola.nowak@example.com")
            suppression.add(conn, keyring, [ident], scope=scope, reason=why, source="test", now=now, actor="t")
        if setup == "erased":
            conn.execute(insert(erasures).values(customer_id=cid, actor="t", erased_at=now, summary={}))
        queued = queue_campaign(conn, [cid], now)
        batch = claimed(conn, queued)
    (result,) = composer(app).compose(batch)
    assert isinstance(result, Skip) and result.reason == reason


def test_an_sms_suppression_does_not_stop_email_and_opt_out_countries_need_no_grant(app: Epistola) -> None:
    now = app.clock()
    keyring = Keyring.from_settings(app.settings)
    with app.engine.begin() as conn:
        us, pl = add_customers(conn, [{"email": "joe@example.com", "country": "US"}, {"email": "jan@example.pl"}], now)
        ident = suppression.identifier("email", "joe@example.com")
        suppression.add(conn, keyring, [ident], scope="sms", reason="keyword", source="t", now=now, actor="t")
        queued = queue_campaign(conn, [us, pl], now)
        batch = claimed(conn, queued)
    results = by_customer(
        list(composer(app, consent_policy="email:marketing:US=opt_out").compose(batch)), queued.message_ids
    )
    assert isinstance(results[us], Envelope)
    assert isinstance(results[pl], Skip)


def test_suppressions_made_under_an_old_key_still_hold_after_rotation(app: Epistola) -> None:
    now = app.clock()
    old = Keyring.from_settings(app.settings)
    with app.engine.begin() as conn:
        (cid,) = add_customers(conn, [{"email": "kept@example.com"}], now)
        append_entries(conn, [grant(cid, app)])
        ident = suppression.identifier("email", "kept@example.com")
        suppression.add(conn, old, [ident], scope="email", reason="hard_bounce", source="t", now=now, actor="t")
        queued = queue_campaign(conn, [cid], now)
        batch = claimed(conn, queued)
    old_secret = app.settings.secret_key.get_secret_value()
    rotated = load_settings(
        **_overrides(app), secret_key="n" * 40, secret_key_version=2, previous_secret_keys=f"1={old_secret}"
    )
    gate = ConsentGate.from_settings(rotated)
    c = EmailComposer(app.engine, clock=app.clock, sender="a@b.example", base_url="https://x.example", gate=gate)
    (result,) = c.compose(batch)
    assert isinstance(result, Skip) and "hard_bounce" in result.reason
    without_old = EmailComposer(
        app.engine,
        clock=app.clock,
        sender="a@b.example",
        base_url="https://x.example",
        gate=ConsentGate(keyring=Keyring.single("n" * 40, 2)),
    )
    assert isinstance(without_old.compose(batch)[0], Envelope), "the old key is what finds the old hash"


entry_strategy = st.tuples(
    st.sampled_from(STATUSES), st.integers(-6, 3), st.one_of(st.none(), st.integers(1, 8)), st.booleans()
)
person_strategy = st.fixed_dictionaries(
    {
        "entries": st.lists(entry_strategy, max_size=4),
        "country": st.sampled_from(["PL", "US", "RU", None]),
        "suppressed": st.sampled_from([None, None, "email", "sms", "all"]),
    }
)
POLICIES = ["", "email:marketing:US=opt_out", "email:*=opt_in", "*:*=opt_out", "email:service:RU=opt_in"]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    people=st.lists(person_strategy, min_size=1, max_size=5),
    purpose=st.sampled_from(["marketing", "service"]),
    rules=st.sampled_from(POLICIES),
)
def test_no_message_goes_out_without_what_the_policy_requires(
    app: Epistola, people: list[dict[str, Any]], purpose: str, rules: str
) -> None:
    """Random consent histories (grants, refusals, expiries, future entries, other channels), suppressions,
    countries, purposes and policies: a message is composed exactly when the rules, applied to the replayed
    ledger, allow it."""
    now = app.clock()
    keyring = Keyring.from_settings(app.settings)
    with app.engine.begin() as conn:
        addresses = [f"p{next(_addresses)}@example.com" for _ in people]
        ids = add_customers(
            conn, [{"email": a, "country": p["country"]} for a, p in zip(addresses, people, strict=True)], now
        )
        entries: list[ConsentEntry] = []
        for cid, person in zip(ids, people, strict=True):
            for status, day, expires, other_channel in person["entries"]:
                recorded = now + timedelta(days=day)
                entries.append(
                    ConsentEntry(
                        customer_id=cid,
                        channel="sms" if other_channel else "email",
                        purpose=purpose,
                        status=status,
                        source="random",
                        recorded_at=recorded,
                        expires_at=None if expires is None else recorded + timedelta(days=expires),
                    )
                )
            if person["suppressed"]:
                ident = suppression.identifier("email", addresses[ids.index(cid)])
                suppression.add(
                    conn, keyring, [ident], scope=person["suppressed"], reason="manual", source="t", now=now, actor="t"
                )
        append_entries(conn, entries)
        queued = queue_campaign(conn, ids, now, purpose=purpose)
        batch = claimed(conn, queued)
    results = by_customer(list(composer(app, consent_policy=rules).compose(batch)), queued.message_ids)

    state = replay([LedgerRow(id=i, entry=e) for i, e in enumerate(entries)], now)
    rule_book = parse_policy(rules)
    for cid, person in zip(ids, people, strict=True):
        consent = state.get((cid, "email", purpose))
        allowed = (
            person["suppressed"] not in ("email", "all")
            and rule_book.decide("email", purpose, person["country"], consent).allowed
        )
        result = results[cid]
        assert isinstance(result, Envelope) is allowed, (person, consent, result)
        if isinstance(result, Envelope):
            assert result.recipient == addresses[ids.index(cid)]
