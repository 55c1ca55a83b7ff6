"""Identity resolution through the store, on SQLite and PostgreSQL: nicknames and transliterations merge,
a household does not, decisions stick, unmerge restores, incremental matching, consent never widened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from identity_fixtures import FIXTURES, customer_of, mapping, resolved_app, rid
from sqlalchemy import Connection, func, insert, select

from epistola.app import Epistola
from epistola.consent.ledger import current_state
from epistola.hub.ingest import import_source
from epistola.identity import merging, review, store
from epistola.identity.explain import explain_customer, explain_pair
from epistola.identity.incremental import match_record
from epistola.identity.resolve import resolve
from epistola.store.schema import audit_log, customers, events
from epistola.testing import FixedClock


@pytest.fixture
def resolved(app: Epistola) -> Epistola:
    return resolved_app(app)


def test_nicknames_and_transliterations_merge_a_household_does_not(resolved: Epistola) -> None:
    with resolved.engine.connect() as conn:
        same = [
            (("crm", "C1"), ("shop", "S1")),  # William / Bill Weingarten, 1102 West Pratt St / W. Pratt St
            (("crm", "C3"), ("shop", "S2")),  # Александр Иванов / Sasha Ivanov, Москва / Moscow
            (("crm", "C4"), ("shop", "S3")),  # Katarzyna / Kasia Kowalska, Warszawa / W-wa
            (("crm", "C8"), ("shop", "S6")),  # Jennifer Smith / Jenifer Smiht (typos)
        ]
        for a, b in same:
            assert customer_of(conn, *a) == customer_of(conn, *b), (a, b)
        apart = [
            (("crm", "C1"), ("crm", "C2")),  # his wife: same address and landline, another given name
            (("crm", "C4"), ("crm", "C5")),  # her husband
            (("crm", "C6"), ("shop", "S4")),  # two Anna Nowaks in two cities
        ]
        for a, b in apart:
            assert customer_of(conn, *a) != customer_of(conn, *b), (a, b)
        # the swapped and diminutive 'Pavlova Olia' is not sure enough on her own: she waits for review
        queue = review.pending(conn)
        pair = {rid(conn, "crm", "C7"), rid(conn, "shop", "S5")}
        assert pair in [{r["record_l"], r["record_r"]} for r in queue]
        total = conn.execute(select(func.count()).select_from(customers).where(customers.c.merged_into.is_(None)))
        assert total.scalar_one() == 11
        # a model version was stored and the run audited
        assert store.latest_model(conn) is not None
        assert conn.execute(select(func.count()).select_from(audit_log).where(audit_log.c.action == "resolve")).scalar()


def test_every_merge_is_explained(resolved: Epistola) -> None:
    with resolved.engine.connect() as conn:
        bill = customer_of(conn, "crm", "C1")
        x = explain_customer(conn, bill)
        assert {r["key"] for r in x.records} == {"C1", "S1"}
        assert len(x.links) == 1
        link = x.links[0]
        assert link.score.probability == pytest.approx(x.links[0].stored["probability"], abs=1e-9)  # type: ignore[index]
        by_name = {c.comparison: c for c in link.score.contributions}
        assert by_name["name"].level == "same family name, given name a form of it"
        assert by_name["email"].level == "exact"
        assert link.score.weight == pytest.approx(
            link.score.prior_weight + sum(c.total for c in link.score.contributions)
        )


def test_review_decisions_stick_across_runs(resolved: Epistola, clock: FixedClock) -> None:
    app = resolved
    with app.engine.begin() as conn:
        olga, olia = rid(conn, "crm", "C7"), rid(conn, "shop", "S5")
        done = review.decide(conn, olga, olia, "match", now=clock(), actor="tester", note="same mobile")
        assert done.merged is not None
        bill, mary = rid(conn, "crm", "C1"), rid(conn, "crm", "C2")
        anna1, anna2 = rid(conn, "crm", "C6"), rid(conn, "shop", "S4")
        review.decide(conn, anna1, anna2, "no_match", now=clock(), actor="tester")
        # a person says Bill's shop card is not him (say, a son with the same name)
        shop_bill = rid(conn, "shop", "S1")
        review.decide(conn, bill, shop_bill, "no_match", now=clock(), actor="tester")
    clock.advance(days=1)
    with app.engine.begin() as conn:
        report = resolve(conn, now=clock())
        assert report.split_off == 1  # the card left Bill for a customer of its own
    with app.engine.begin() as conn:
        clock.advance(days=1)
        resolve(conn, now=clock(), retrain=True)  # a new model: decisions still win
        assert customer_of(conn, "crm", "C7") == customer_of(conn, "shop", "S5")
        assert customer_of(conn, "crm", "C6") != customer_of(conn, "shop", "S4")
        assert customer_of(conn, "crm", "C1") != customer_of(conn, "shop", "S1")
        assert customer_of(conn, "crm", "C1") != customer_of(conn, "crm", "C2")
        assert {olga, olia} not in [{r["record_l"], r["record_r"]} for r in review.pending(conn)]
        assert mary  # untouched


def _event(conn: Connection, uid: str, customer: int, source: str, key: str, now: Any) -> int:
    return int(
        conn.execute(
            insert(events).values(
                event_uid=uid,
                customer_id=customer,
                type="purchase",
                occurred_at=now,
                properties={"_ident": {"source": f"test_{source}", "key": key}},
                received_at=now,
            )
        ).inserted_primary_key[0]
    )


def _state(conn: Connection, customer: int, now: Any) -> str | None:
    return current_state(conn, [customer], channel="email", purpose="marketing", now=now).get(customer)


def test_merge_then_unmerge_restores_both_customers(resolved: Epistola, clock: FixedClock) -> None:
    app = resolved
    with app.engine.begin() as conn:
        thomas, anna = customer_of(conn, "shop", "S7"), customer_of(conn, "shop", "S4")  # both granted e-mail
        jan = customer_of(conn, "crm", "C5")  # denied e-mail
        anna_before = dict(store.active_customer(conn, anna))
        e1 = _event(conn, "e1", thomas, "shop", "S7", clock())
        e2 = _event(conn, "e2", jan, "crm", "C5", clock())
        assert _state(conn, thomas, clock()) == "granted" and _state(conn, jan, clock()) == "denied"
    clock.advance(hours=1)
    with app.engine.begin() as conn:
        merged = merging.merge(conn, thomas, jan, now=clock(), actor="tester")
        assert merged.records == [rid(conn, "crm", "C5")]
        assert _state(conn, thomas, clock()) == "denied"  # never wider: the refusal wins
        assert customer_of(conn, "crm", "C5") == thomas
        assert conn.execute(select(events.c.customer_id).where(events.c.id == e2)).scalar() == thomas
        assert store.active_customer(conn, jan)["merged_into"] == thomas
        assert anna_before["id"] == anna
    clock.advance(hours=1)
    with app.engine.begin() as conn:
        undone = merging.unmerge(conn, merged.history_id, now=clock(), actor="tester")
        assert undone.other_id == jan
        restored = store.active_customer(conn, jan)
        assert restored["merged_into"] is None
        assert restored["first_name"] == "Jan" and restored["last_name"] == "Kowalski"
        assert customer_of(conn, "crm", "C5") == jan
        assert conn.execute(select(events.c.customer_id).where(events.c.id == e2)).scalar() == jan
        assert conn.execute(select(events.c.customer_id).where(events.c.id == e1)).scalar() == thomas
        assert _state(conn, jan, clock()) == "denied"
        assert _state(conn, thomas, clock()) == "granted"  # its own history again
        with pytest.raises(Exception, match="already undone"):
            merging.unmerge(conn, merged.history_id, now=clock(), actor="tester")
        kinds = [h["kind"] for h in store.history_of(conn, thomas)]
        assert kinds == ["merge", "unmerge"]
    clock.advance(days=1)
    with app.engine.begin() as conn:  # the unmerge is a decision: the next run keeps them apart
        resolve(conn, now=clock())
        assert customer_of(conn, "crm", "C5") != customer_of(conn, "shop", "S7")


def test_consent_is_never_widened_when_records_join(resolved: Epistola, clock: FixedClock) -> None:
    with resolved.engine.connect() as conn:
        bill = customer_of(conn, "crm", "C1")  # CRM granted (2024), the newer shop card refused (2025)
        assert _state(conn, bill, clock()) == "denied"
        sasha = customer_of(conn, "crm", "C3")  # both granted
        assert _state(conn, sasha, clock()) == "granted"


def test_split_moves_records_to_a_new_customer(resolved: Epistola, clock: FixedClock) -> None:
    with resolved.engine.begin() as conn:
        kasia = customer_of(conn, "crm", "C4")
        card = rid(conn, "shop", "S3")
        done = merging.split(conn, kasia, [card], now=clock(), actor="tester")
        assert customer_of(conn, "shop", "S3") == done.other_id != kasia
        assert store.active_customer(conn, done.other_id)["first_name"] == "Kasia"
        with pytest.raises(Exception, match="at least one"):
            merging.split(conn, kasia, store.records_of(conn, kasia), now=clock(), actor="tester")


def test_incremental_matching_of_a_new_record(resolved: Epistola, clock: FixedClock, tmp_path: Path) -> None:
    app = resolved
    extra = tmp_path / "shop.csv"
    original = (FIXTURES / "shop.csv").read_text(encoding="utf-8")
    extra.write_text(
        original
        + "S8,Billy,Weingarten,+1 410 555 0101,bill.w@example.com,1102 W Pratt St,Baltimore,21223,US,,2026-01-01\n"
        + "S9,Zbigniew,Brzęczyszczykiewicz,+48 700 000 001,,,Łódź,90-001,PL,Y,2026-01-01\n",
        encoding="utf-8",
    )
    clock.advance(days=1)
    import_source(app.engine, extra, mapping("shop"), clock=app.clock)
    with app.engine.begin() as conn:
        billy = match_record(conn, rid(conn, "shop", "S8"), now=clock())
        assert billy.action == "joined"
        assert billy.customer_id == customer_of(conn, "crm", "C1")
        newcomer = match_record(conn, rid(conn, "shop", "S9"), now=clock())
        assert newcomer.action == "created"
        assert store.active_customer(conn, newcomer.customer_id)["city"] == "Łódź"
        again = match_record(conn, rid(conn, "shop", "S8"), now=clock())
        assert again.action == "unchanged" and again.customer_id == billy.customer_id
        pair = explain_pair(conn, rid(conn, "shop", "S8"), rid(conn, "crm", "C1"))
        assert pair.score.probability > 0.8
