"""The shipped example segments (PRODUCT.md loyalty strategies) are valid and select the right people."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select, update

from epistola.app import Epistola
from epistola.audience.segments import save_segment, segment_members
from epistola.hub.pipeline import import_dataset
from epistola.store.schema import customers
from epistola.testing import FixedClock

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "sources"


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("business-clothes", set()),  # Sasha buys suits but never gave e-mail consent
        ("new-card-holders", {"kasia.kowalska@wp.pl"}),
    ],  # card issued 2026-10-25, clock at 2026-11-02
)
def test_examples(app: Epistola, example: str, expected: set[str]) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    definition = yaml.safe_load((ROOT / "examples" / "segments" / f"{example}.yaml").read_text(encoding="utf-8"))
    with app.engine.begin() as conn:
        seg = save_segment(conn, name=example, definition=definition, now=app.clock())
        ids = segment_members(conn, seg, app.clock())
        emails = set(conn.execute(select(customers.c.email).where(customers.c.id.in_(ids))).scalars())
    assert emails == expected


def test_business_clothes_without_consent_finds_the_suit_buyer(app: Epistola) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    definition = yaml.safe_load((ROOT / "examples" / "segments" / "business-clothes.yaml").read_text())
    definition["all"] = [c for c in definition["all"] if "consent" not in c]
    with app.engine.begin() as conn:
        seg = save_segment(conn, name="bc", definition=definition, now=app.clock())
        ids = segment_members(conn, seg, app.clock())
        emails = set(conn.execute(select(customers.c.email).where(customers.c.id.in_(ids))).scalars())
    assert emails == {"sasha.ivanov@gmail.com"}


def test_one_time_buyers_without_accessories(app: Epistola) -> None:
    from epistola.store.schema import events

    import_dataset(app, FIXTURES, _NoBar)
    definition = yaml.safe_load((ROOT / "examples" / "segments" / "one-time-accessories.yaml").read_text())
    definition["all"] = [c for c in definition["all"] if "consent" not in c]
    now = app.clock()
    with app.engine.begin() as conn:
        ids = dict(conn.execute(select(customers.c.email, customers.c.id)).all())
        conn.execute(
            events.insert(),
            [
                {
                    "event_uid": f"x{i}",
                    "customer_id": ids[e],
                    "type": "purchase",
                    "category": "casual_clothes",
                    "occurred_at": now,
                    "received_at": now,
                    "properties": {},
                }
                for i, e in enumerate(
                    ["susan.miller@yahoo.com", "kasia.kowalska@wp.pl", "jan.nowak@onet.pl", "jan.nowak@onet.pl"]
                )
            ],
        )
        seg = save_segment(conn, name="ota", definition=definition, now=now)
        found = set(
            conn.execute(select(customers.c.email).where(customers.c.id.in_(segment_members(conn, seg, now)))).scalars()
        )
    assert found == {"susan.miller@yahoo.com"}  # Kasia bought accessories, Jan bought casual twice


EXAMPLES = sorted((ROOT / "examples" / "segments").glob("*.yaml"))


def test_every_example_is_valid_and_both_compilers_agree_on_it(app: Epistola, tmp_path: Path) -> None:
    from epistola.audience.engines import MartAudience, StoreAudience
    from epistola.audience.language import parse_definition
    from epistola.audience.mart import Mart
    from epistola.synth import generate

    assert len(EXAMPLES) >= 7
    generate(tmp_path / "data", customers=200, seed=5, events_per_customer=10)
    import_dataset(app, tmp_path / "data", _NoBar)
    now = app.clock()
    mart = Mart(tmp_path / "mart.duckdb")
    mart.build(app.engine, now)
    sizes = {}
    with app.engine.begin() as conn:
        for path in EXAMPLES:
            definition = yaml.safe_load(path.read_text(encoding="utf-8"))
            save_segment(conn, name=path.stem, definition=definition, now=now)
            condition = parse_definition(definition)
            store = StoreAudience(conn, now=now, load=None).members(condition)
            assert MartAudience(mart, now=now, load=None).members(condition) == store, path.name
            sizes[path.stem] = len(store)
    mart.close()
    assert sizes["never-answered-survey"] > 0 and sizes["rfm-champions"] > 0 and sizes["lapsing-buyers"] > 0


def test_birthday_week_counts_in_the_customers_own_time_zone(app: Epistola, clock: FixedClock) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    clock.now = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)  # already 3 November in Tokyo, still 2nd in New York
    definition = yaml.safe_load((ROOT / "examples" / "segments" / "birthday-week.yaml").read_text(encoding="utf-8"))
    with app.engine.begin() as conn:
        ids = dict(conn.execute(select(customers.c.email, customers.c.id)).all())
        for email, zone in (("a.ivanov@mail.ru", "Asia/Tokyo"), ("maria.petrova@yandex.ru", "America/New_York")):
            conn.execute(
                update(customers)
                .where(customers.c.id == ids[email])
                .values(timezone=zone, birth_date=date(1980, 11, 9))  # 6 days ahead in Tokyo, 7 in New York
            )
        seg = save_segment(conn, name="birthday-week", definition=definition, now=clock.now)
        found = set(
            conn.execute(
                select(customers.c.email).where(customers.c.id.in_(segment_members(conn, seg, clock.now)))
            ).scalars()
        )
    assert "a.ivanov@mail.ru" in found
    assert "maria.petrova@yandex.ru" not in found
