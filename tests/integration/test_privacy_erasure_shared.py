"""Erasure with its verification scan, when other customers share a street or a name with the person:
their rows are theirs, so the erasure goes ahead and leaves them alone (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from consent_fixtures import add_customers
from sqlalchemy import select, update

from epistola.app import Epistola
from epistola.consent.erasure import erase_customer
from epistola.consent.keys import Keyring
from epistola.errors import Conflict
from epistola.store.schema import customers

STREET = "улица Школьная, д. 12"


def people(app: Epistola) -> tuple[int, int]:
    with app.engine.begin() as conn:
        anna, olga = add_customers(
            conn,
            [
                {"first_name": "Анна", "last_name": "Иванова", "email": "anna@example.ru", "phone": "+79161234567",
                 "street": STREET, "city": "Москва", "attributes": {"full_name": "Анна Иванова"}},
                {"first_name": "Ольга", "last_name": "Иванова", "email": "olga@example.ru", "phone": "+79167654321",
                 "street": STREET, "city": "Москва", "attributes": {"full_name": "Анна Иванова"}},
            ],
            app.clock(),
        )  # fmt: skip
    return anna, olga


def test_a_neighbour_with_the_same_street_and_name_does_not_block_the_erasure(app: Epistola) -> None:
    anna, olga = people(app)
    with app.engine.begin() as conn:
        report = erase_customer(
            conn, anna, keyring=Keyring.from_settings(app.settings), now=app.clock(), actor="test", verify=True
        )
    assert report.customers == (anna,)
    with app.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(customers).where(customers.c.id.in_([anna, olga])))}
    assert rows[anna].email is None and rows[anna].street is None
    assert (rows[olga].email, rows[olga].street) == ("olga@example.ru", STREET)


def test_an_address_or_number_left_anywhere_still_refuses_the_erasure(app: Epistola) -> None:
    anna, _ = people(app)
    with app.engine.begin() as conn:
        # A free-text column the erasure does not know about, quoting the person's phone number.
        conn.execute(update(customers).where(customers.c.id != anna).values(region="call +7 916 123-45-67"))
    with pytest.raises(Conflict, match="still mentioned"), app.engine.begin() as conn:
        erase_customer(conn, anna, keyring=Keyring.from_settings(app.settings), now=app.clock(), actor="t", verify=True)
