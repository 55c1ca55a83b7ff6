"""The ledger in the store, on both engines, against its pure model: replaying the history gives exactly the
state the store derives, and merging (or unmerging) customers never widens anybody's consent."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from consent_fixtures import add_customers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epistola.app import Epistola
from epistola.consent.ledger import (
    append_entries,
    current_state,
    history,
    ledger_rows,
    merge_consents,
    split_consents,
    standings,
)
from epistola.consent.model import STATUSES, ConsentEntry, Standing, is_narrower_or_equal, replay

PAIRS = [("email", "marketing"), ("sms", "marketing"), ("email", "service")]
entry = st.tuples(
    st.integers(0, 2),  # which customer of the example
    st.sampled_from(PAIRS),
    st.sampled_from(STATUSES),
    st.integers(-40, 5),  # days from now (a few in the future)
    st.one_of(st.none(), st.integers(1, 60)),  # days until a grant expires
)
FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _insert(app: Epistola, rows: list[tuple[Any, ...]], n: int = 3) -> tuple[list[int], list[ConsentEntry]]:
    now = app.clock()
    with app.engine.begin() as conn:
        ids = add_customers(conn, [{"email": None} for _ in range(n)], now)
        entries = [
            ConsentEntry(
                customer_id=ids[who],
                channel=channel,
                purpose=purpose,
                status=status,
                source="random",
                recorded_at=now + timedelta(days=day, seconds=i - 100),
                expires_at=None if expires is None else now + timedelta(days=day + expires, seconds=i - 100),
            )
            for i, (who, (channel, purpose), status, day, expires) in enumerate(rows)
        ]
        append_entries(conn, entries)
    return ids, entries


@FAST
@given(rows=st.lists(entry, max_size=12), later=st.integers(0, 70))
def test_replaying_the_ledger_equals_the_state_the_store_derives(app: Epistola, rows: list[Any], later: int) -> None:
    ids, _ = _insert(app, rows)
    at = app.clock() + timedelta(days=later)  # the state now, and after some grants expired
    with app.engine.connect() as conn:
        mine = [r for r in ledger_rows(conn, batch=5) if r.entry.customer_id in ids]
        replayed = replay(mine, at)
        derived = {k: s.status for k, s in standings(conn, ids, now=at).items()}
        per_pair = {
            (cid, channel, purpose): status
            for channel, purpose in PAIRS
            for cid, status in current_state(conn, ids, channel=channel, purpose=purpose, now=at).items()
        }
        assert [r.id for r in history(conn, ids)] == [
            r.id for r in sorted(mine, key=lambda r: (r.entry.recorded_at, r.id))
        ]
    assert derived == replayed
    assert per_pair == replayed


def _states(app: Epistola, ids: list[int]) -> dict[tuple[int, str, str], Standing]:
    with app.engine.connect() as conn:
        return standings(conn, ids, now=app.clock())


@FAST
@given(rows=st.lists(entry.filter(lambda e: e[3] <= 0), max_size=12))
def test_a_merge_never_widens_consent(app: Epistola, rows: list[Any]) -> None:
    ids, _ = _insert(app, rows)
    keeper, absorbed = ids[0], ids[1:]
    before = _states(app, ids)
    app.clock.advance(minutes=1)  # type: ignore[attr-defined]
    with app.engine.begin() as conn:
        merge_consents(conn, keeper=keeper, absorbed=absorbed, now=app.clock())
    after = _states(app, ids)
    for channel, purpose in PAIRS:
        parts = {cid: before.get((cid, channel, purpose)) for cid in ids}
        merged = after.get((keeper, channel, purpose))
        assert is_narrower_or_equal(merged, parts), (channel, purpose, parts, merged)
        if merged is not None and merged.status == "granted":
            assert any(p is not None and p.status == "granted" for p in parts.values())
        for cid in absorbed:  # the absorbed keep their own history, untouched
            assert after.get((cid, channel, purpose)) == before.get((cid, channel, purpose))


def test_unmerge_returns_own_history_plus_refusals_made_while_merged(app: Epistola) -> None:
    rows = [(0, ("email", "marketing"), "granted", -10, None), (1, ("email", "marketing"), "granted", -9, None)]
    ids, _ = _insert(app, rows, n=2)
    keeper, other = ids
    app.clock.advance(minutes=1)  # type: ignore[attr-defined]
    merged_at = app.clock()
    with app.engine.begin() as conn:
        merge_consents(conn, keeper=keeper, absorbed=[other], now=merged_at)
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    with app.engine.begin() as conn:
        append_entries(
            conn,
            [
                ConsentEntry(
                    customer_id=keeper,
                    channel="email",
                    purpose="marketing",
                    status="withdrawn",
                    source="unsubscribe",
                    recorded_at=app.clock(),
                ),
                ConsentEntry(
                    customer_id=keeper,
                    channel="sms",
                    purpose="marketing",
                    status="granted",
                    source="form",
                    recorded_at=app.clock(),
                ),
            ],
        )
    app.clock.advance(days=1)  # type: ignore[attr-defined]
    with app.engine.begin() as conn:
        copied = split_consents(conn, keeper=keeper, restored=other, since=merged_at, now=app.clock())
    assert [(e.channel, e.status) for e in copied] == [("email", "withdrawn")]
    states = _states(app, ids)
    assert states[(other, "email", "marketing")].status == "withdrawn", "a refusal made while merged holds for both"
    assert (other, "sms", "marketing") not in states, "a grant made while merged is not copied"
