"""Segments compile to SQL and give the same answers on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import insert, select

from epistola.app import Epistola
from epistola.audience.segments import count_segment, save_segment, segment_members, snapshot_member_ids, take_snapshot
from epistola.errors import InputError
from epistola.hub.pipeline import import_dataset
from epistola.store.schema import customers

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


@pytest.fixture
def loaded(app: Epistola) -> Epistola:
    import_dataset(app, FIXTURES, _NoBar)
    return app


def _names(app: Epistola, definition: dict[str, object], name: str = "s") -> set[str]:
    with app.engine.begin() as conn:
        seg = save_segment(conn, name=name, definition=definition, now=app.clock())
        ids = segment_members(conn, seg, app.clock())
        assert count_segment(conn, seg, app.clock()) == len(ids)
        rows = conn.execute(select(customers.c.email).where(customers.c.id.in_(ids))).scalars().all()
    return {r.split("@")[0] if r else "?" for r in rows}


def test_profile_consent_and_event_conditions(loaded: Epistola) -> None:
    assert _names(loaded, {"field": "country", "eq": "PL"}) == {"kasia.kowalska", "jan.nowak"}
    assert _names(loaded, {"consent": "email"}) >= {"a.ivanov", "maria.petrova", "bill.weingarten"}
    assert "susan.miller" not in _names(loaded, {"consent": "email"}), "CRM said N, loyalty said nothing"
    business = {"event": {"type": "purchase", "category": "business_clothes", "within_days": 180}, "count": {"gte": 2}}
    assert _names(loaded, business) == {"sasha.ivanov"}
    assert (
        _names(
            loaded,
            {"event": {"type": "purchase", "category": "business_clothes", "within_days": 30}, "count": {"gte": 2}},
        )
        == set()
    )
    assert _names(loaded, {"all": [{"field": "gender", "eq": "m"}, {"field": "age", "gte": 30}, business]}) == {
        "sasha.ivanov"
    }


def test_age_uses_birth_dates_and_ranges_conservatively(loaded: Epistola) -> None:
    older = _names(loaded, {"field": "age", "gte": 60})
    assert "bill.weingarten" in older  # born 1962
    assert "jan.nowak" not in older  # web form said 18-25
    assert "jan.nowak" in _names(loaded, {"field": "age", "lte": 25})
    assert "kasia.kowalska" not in _names(loaded, {"field": "age", "exists": False})


def test_nested_not_any_and_segment_references(loaded: Epistola) -> None:
    _names(loaded, {"field": "country", "eq": "PL"}, name="poles")
    assert "kasia.kowalska" not in _names(loaded, {"not": {"segment": "poles"}}, name="not-poles")
    both = _names(loaded, {"any": [{"segment": "poles"}, {"field": "city", "eq": "Москва"}]}, name="either")
    assert both >= {"kasia.kowalska", "jan.nowak", "a.ivanov"}
    with loaded.engine.begin() as conn, pytest.raises(InputError, match="cannot include itself"):
        save_segment(conn, name="loop", definition={"segment": "loop"}, now=loaded.clock())
    with loaded.engine.begin() as conn, pytest.raises(Exception, match="no segment named"):
        save_segment(conn, name="dangling", definition={"segment": "nope"}, now=loaded.clock())


def test_sample_is_a_stable_share(app: Epistola) -> None:
    now = app.clock()
    with app.engine.begin() as conn:
        conn.execute(
            insert(customers),
            [{"locale": "en", "attributes": {}, "created_at": now, "updated_at": now} for _ in range(2000)],
        )
        seg = save_segment(conn, name="tenth", definition={"sample": {"percent": 10, "seed": 3}}, now=now)
        n = count_segment(conn, seg, now)
        assert 150 < n < 250
        assert count_segment(conn, seg, now) == n


def test_snapshot_freezes_membership(loaded: Epistola) -> None:
    with loaded.engine.begin() as conn:
        seg = save_segment(conn, name="pl", definition={"field": "country", "eq": "PL"}, now=loaded.clock())
        snap = take_snapshot(conn, seg, loaded.clock())
        frozen = snapshot_member_ids(conn, snap.id)
        conn.execute(customers.update().values(country="PL", updated_at=loaded.clock()))
        assert snapshot_member_ids(conn, snap.id) == frozen
        assert count_segment(conn, seg, loaded.clock()) > len(frozen)
    assert snap.size == len(frozen) == 2
