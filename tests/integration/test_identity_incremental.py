"""Incremental matching decides what a full resolve would decide for the record, on SQLite and PostgreSQL:
it finds the record's people through every blocking rule of the batch run (not only the few it used to
look up), and when the record shows that two customers are one person, it joins them as a batch run would.
The check is a full resolve afterwards: it finds nothing to change."""

from __future__ import annotations

from pathlib import Path

from identity_fixtures import FIXTURES, customer_of, mapping, rid
from sqlalchemy import select

from epistola.app import Epistola
from epistola.hub.ingest import import_source
from epistola.identity.incremental import blocks, match_record
from epistola.identity.resolve import resolve
from epistola.identity.splink_backend import BLOCKING_RULES
from epistola.store.schema import source_records
from epistola.testing import FixedClock

# Two cards the batch run keeps apart: one Zofia Wrona known by her e-mail alone, and Zosia (a form of
# Zofia) Wrona at home in Gniezno with a phone; the model is not sure they are one person (review).
BASE = (
    "B1,Zofia,Wrona,,zofia.wrona@example.pl,,,,PL,,2025-01-01\n"
    "B2,Zosia,Wrona,+48 700 111 222,,ul. Polna 3,Gniezno,62-200,PL,,2025-01-01\n"
)
LATE = (
    # Jenny is a form of Jennifer, and only family name and postcode are shared with C8 / S6
    "L1,Jenny,Smith,,,,Chicago,60601,US,,2026-01-01\n"
    # Kate is a form of Katarzyna (C4, and Kasia S3), and only the home is shared: no postcode, no phone
    "L2,Kate,Kowalska,,,ul. Miła 80,Warszawa,,PL,,2026-01-01\n"
    # Zofia's e-mail, and Zosia's phone and home: the two cards are one person
    "L3,Zofia,Wrona,+48 700 111 222,zofia.wrona@example.pl,ul. Polna 3,Gniezno,62-200,PL,,2026-01-01\n"
)


def _owners(app: Epistola) -> dict[int, int]:
    with app.engine.connect() as conn:
        return {int(r): int(c) for r, c in conn.execute(select(source_records.c.id, source_records.c.customer_id))}


def _extract(folder: Path, name: str, rows: str) -> Path:
    """The shop's extract: the fixture's cards and `rows` (an extract lists every card; one left out is gone)."""
    path = folder / name
    path.write_text((FIXTURES / "shop.csv").read_text(encoding="utf-8") + rows, encoding="utf-8")
    return path


def test_incremental_matching_agrees_with_a_full_resolve(app: Epistola, clock: FixedClock, tmp_path: Path) -> None:
    app.migrate()
    import_source(app.engine, FIXTURES / "crm.csv", mapping("crm"), clock=app.clock)
    import_source(app.engine, _extract(tmp_path, "shop-1.csv", BASE), mapping("shop"), clock=app.clock)
    with app.engine.begin() as conn:
        resolve(conn, now=clock())
        jennifer, katarzyna = customer_of(conn, "crm", "C8"), customer_of(conn, "crm", "C4")
        zofia, zosia = customer_of(conn, "shop", "B1"), customer_of(conn, "shop", "B2")
    assert zofia != zosia
    clock.advance(days=1)
    import_source(app.engine, _extract(tmp_path, "shop-2.csv", BASE + LATE), mapping("shop"), clock=app.clock)
    with app.engine.begin() as conn:
        jenny = match_record(conn, rid(conn, "shop", "L1"), now=clock())
        kate = match_record(conn, rid(conn, "shop", "L2"), now=clock())
        both = match_record(conn, rid(conn, "shop", "L3"), now=clock())
    assert (jenny.action, jenny.customer_id) == ("joined", jennifer)
    assert (kate.action, kate.customer_id) == ("joined", katarzyna)
    assert both.action == "joined" and {both.customer_id, *both.absorbed} == {zofia, zosia}
    with app.engine.connect() as conn:
        assert customer_of(conn, "shop", "B1") == customer_of(conn, "shop", "B2") == both.customer_id

    before = _owners(app)
    with app.engine.begin() as conn:
        again = resolve(conn, now=clock())
    assert _owners(app) == before
    assert (again.merged_away, again.split_off) == (0, 0)


def test_blocks_read_every_batch_rule_both_ways() -> None:
    """A record is looked up by each rule with itself on either side; the mirrored swap rules collapse."""
    row = {
        "record_id": 1,
        "email": "a@x",
        "phone": "+1",
        "fn": "jon",
        "ln": "gren",
        "fn_block": "jonathan",
        "ln_block": "gren",
        "dob": "1980-01-01",
        "postcode": "92167",
        "pc_area": "921",
        "city": "sandego",
        "street": "prat",
        "house": "657",
    }
    found = blocks(row)
    assert {"fn": "gren", "ln_block": "jonathan"} in found  # the other record is the one written the other way
    assert {"ln": "jon", "fn_block": "gren"} in found
    assert {"street": "prat", "house": "657", "city": "sandego"} in found
    assert len(found) == len(BLOCKING_RULES)  # 13 rules: 11 symmetric, 2 mirror images of each other
    assert blocks(row | {"email": None, "phone": None}) == found[2:]
    assert not any("dob" in b for b in blocks(row | {"dob": None}))
