"""Enrichment on both engines: a postcode overlay, survey answers that survive identity rebuilds, and
modelled values that are accurate, marked as modelled and never over a stated value."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hub_fixtures import run_cli
from sqlalchemy import delete, insert, select, update

from epistola.app import Epistola
from epistola.errors import InputError
from epistola.hub.enrich import ProfileStore, apply_overlay, apply_profiles, load_overlay, record_answer
from epistola.hub.modelled import age_band, model_missing
from epistola.store.schema import customers, modelled_values, overlay_values, profile_attributes
from epistola.synth.people import build_people

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
PEOPLE = 1_200


@pytest.fixture(scope="module")
def people() -> list:  # type: ignore[type-arg]
    return build_people(PEOPLE, 3)


def _add_customers(app: Epistola, people: list) -> dict[int, str]:  # type: ignore[type-arg]
    """Customers from generated people: every third hides its gender, every second its birth date."""
    truth = {}
    rows = []
    for n, p in enumerate(people):
        rows.append(
            {
                "id": n + 1,
                "first_name": p.first_name,
                "last_name": p.last_name,
                "gender": None if n % 3 == 0 else p.gender[0],
                "birth_date": None if n % 2 == 0 else p.birth_date,
                "country": p.country,
                "postcode": p.address.postcode,
                "locale": p.locale,
                "attributes": {"store": "X"},
                "created_at": NOW,
                "updated_at": NOW,
            }
        )
        truth[n + 1] = p.gender[0]
    with app.engine.begin() as conn:
        conn.execute(insert(customers), rows)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval('customers_id_seq', (SELECT max(id) FROM customers))")
    return truth


def test_modelled_gender_is_accurate_marked_and_never_over_a_stated_value(app: Epistola, people: list) -> None:  # type: ignore[type-arg]
    truth = _add_customers(app, people)
    with app.engine.begin() as conn:
        reports = {r.field: r for r in model_missing(conn, now=NOW)}
        apply_profiles(conn, now=NOW)
    gender = reports["gender"]
    assert gender.trained_on == PEOPLE - PEOPLE // 3 and gender.scored == PEOPLE // 3
    assert gender.holdout_accuracy > max(0.85, gender.baseline_accuracy)
    with app.engine.connect() as conn:
        modelled = {
            (cid, f): (v, c)
            for cid, f, v, c in conn.execute(
                select(modelled_values.c.customer_id, modelled_values.c.field, modelled_values.c.value,
                       modelled_values.c.confidence)
            )
        }  # fmt: skip
        stated = {
            cid: (g, b)
            for cid, g, b in conn.execute(select(customers.c.id, customers.c.gender, customers.c.birth_date))
        }
        attributes = dict(conn.execute(select(customers.c.id, customers.c.attributes)).all())
    genders = {cid: v for (cid, f), (v, _) in modelled.items() if f == "gender"}
    assert genders and all(stated[cid][0] is None for cid in genders), "a stated gender was modelled"
    right = sum(truth[cid] == value for cid, value in genders.items())
    assert right / len(genders) > 0.85
    assert all(c >= 0.6 for _, c in modelled.values())
    bands = {v for (cid, f), (v, _) in modelled.items() if f == "age_band"}
    assert bands <= {"18-25", "26-35", "36-45", "46-55", "56-65", "66+"}
    assert all(stated[cid][1] is None for (cid, f) in modelled if f == "age_band")
    some = next(iter(genders))
    assert (
        attributes[some]["modelled_gender"] == genders[some]
        and 0.6 <= attributes[some]["modelled_gender_confidence"] <= 1
    )
    assert attributes[some]["store"] == "X" and stated[some][0] is None, "the stated columns stay as they were"


def test_an_overlay_enriches_by_postcode_prefix(app: Epistola, tmp_path: Path) -> None:
    rows = [
        (1, "RU", "630045", "ru"),
        (2, "PL", "00-950", "pl"),
        (3, "US", "21201-1234", "en"),
        (4, "US", "99999", "en"),
    ]
    with app.engine.begin() as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "id": i,
                    "country": c,
                    "postcode": pc,
                    "locale": loc,
                    "attributes": {},
                    "created_at": NOW,
                    "updated_at": NOW,
                }
                for i, c, pc, loc in rows
            ],
        )
    overlay = tmp_path / "postcode_overlay.csv"
    overlay.write_text(
        "country,postcode_prefix,median_income_band,urbanisation\n"
        "RU,630,middle,urban\nPL,00,high,urban\nUS,212,upper_middle,urban\nUS,998,low,rural\n",
        encoding="utf-8",
    )
    with app.engine.begin() as conn:
        assert load_overlay(conn, overlay, name="demo", now=NOW) == 4
        report = apply_overlay(conn, name="demo", now=NOW)
        apply_profiles(conn, now=NOW)
        attrs = dict(conn.execute(select(customers.c.id, customers.c.attributes)).all())
    assert (report.customers, report.attributes) == (3, 6)
    assert attrs[1]["demo.median_income_band"] == "middle" and attrs[2]["demo.median_income_band"] == "high"
    assert attrs[3]["demo.urbanisation"] == "urban" and "demo.urbanisation" not in attrs[4]

    bad = tmp_path / "bad.csv"
    bad.write_text("country,postcode_prefix,band\nRU,630,x\nRussia,,y\n", encoding="utf-8")
    with app.engine.begin() as conn, pytest.raises(InputError) as caught:
        load_overlay(conn, bad, name="demo", now=NOW)
    assert {(p.row, p.field) for p in caught.value.problems} == {(2, "country"), (2, "postcode_prefix")}
    with app.engine.connect() as conn:
        assert len(conn.execute(select(overlay_values.c.id)).all()) == 4, "a bad file changes nothing"


def test_survey_answers_survive_an_identity_rebuild(app: Epistola) -> None:
    with app.engine.begin() as conn:
        conn.execute(
            insert(customers).values(id=7, locale="en", attributes={"store": "X"}, created_at=NOW, updated_at=NOW)
        )
        record_answer(conn, 7, {"life_event": "new_home", "children": 2}, survey="survey:1", at=NOW)
        ProfileStore().write(conn, 7, {"children": 3}, source="survey:1", at=NOW)
        conn.execute(update(customers).where(customers.c.id == 7).values(attributes={"store": "Y"}))  # a rebuild
        apply_profiles(conn, now=NOW)
        attrs = conn.execute(select(customers.c.attributes).where(customers.c.id == 7)).scalar_one()
        lineage = conn.execute(
            select(profile_attributes.c.name, profile_attributes.c.origin, profile_attributes.c.source)
        ).all()
    assert attrs == {"store": "Y", "life_event": "new_home", "children": 3}
    assert sorted(lineage) == [("children", "survey", "survey:1"), ("life_event", "survey", "survey:1")]


def test_enrich_commands_and_customer_view(app: Epistola, people: list, tmp_path: Path) -> None:  # type: ignore[type-arg]
    _add_customers(app, people[:300])
    overlay = tmp_path / "postcode_overlay.csv"
    overlay.write_text("country,postcode_prefix,urbanisation\nRU,101,urban\n", encoding="utf-8")
    out = run_cli(app, "enrich", "overlay", str(overlay))
    assert out.exit_code == 0 and "customers enriched" in out.output
    out = run_cli(app, "enrich", "model", "--field", "gender")
    assert out.exit_code == 0 and "gender" in out.output, out.output
    with app.engine.connect() as conn:
        some = conn.execute(select(modelled_values.c.customer_id)).scalars().first()
    shown = run_cli(app, "customers", "show", str(some))
    assert "Modelled, not stated" in shown.output


@pytest.mark.parametrize(
    ("birth", "band"),
    [((2000, 11, 2), "26-35"), ((2000, 11, 3), "18-25"), ((1960, 1, 1), "66+"), ((2010, 1, 1), None)],
)
def test_age_bands(birth: tuple[int, int, int], band: str | None) -> None:
    from datetime import date

    assert age_band(date(*birth), NOW.date()) == band


def test_enrichment_a_source_no_longer_supports_leaves_the_profile(app: Epistola, tmp_path: Path) -> None:
    """Kasia's re-imported record has no postcode: her overlay values go. Sasha clears a survey answer
    that overrode his loyalty store: the store his record states comes back, with its lineage. A
    modelled value that is no longer modelled goes too."""
    from epistola.hub.ingest import import_source
    from epistola.hub.pipeline import source_mapping
    from epistola.identity.resolve import resolve
    from epistola.store.schema import customer_lineage, source_records

    source = tmp_path / "loyalty.csv"
    original = (Path(__file__).parent.parent / "fixtures" / "sources" / "loyalty_members.csv").read_text("utf-8")
    source.write_text(original, encoding="utf-8")
    overlay = tmp_path / "overlay.csv"
    overlay.write_text("country,postcode_prefix,urbanisation\nPL,00,urban\nUS,212,urban\n", encoding="utf-8")

    def enrich() -> dict[str, dict[str, object]]:
        import_source(app.engine, source, source_mapping("loyalty"), clock=app.clock)
        with app.engine.begin() as conn:
            resolve(conn, now=NOW)
            apply_overlay(conn, name="demo", now=NOW)
            apply_profiles(conn, now=NOW)
            rows = conn.execute(select(customers.c.email, customers.c.attributes).where(customers.c.email.is_not(None)))
            return {str(e).split(".")[0]: dict(a) for e, a in rows}

    with app.engine.begin() as conn:
        load_overlay(conn, overlay, name="demo", now=NOW)
    first = enrich()
    assert first["kasia"]["demo.urbanisation"] == "urban" and first["susan"]["demo.urbanisation"] == "urban"
    with app.engine.begin() as conn:
        sasha = conn.execute(select(customers.c.id).where(customers.c.email.like("sasha%"))).scalar_one()
        kasia = conn.execute(select(customers.c.id).where(customers.c.email.like("kasia%"))).scalar_one()
        record_answer(conn, sasha, {"store": "online"}, survey="survey:1", at=NOW)
        conn.execute(
            insert(modelled_values).values(
                customer_id=kasia, field="age_band", value="26-35", confidence=0.9, model="m", computed_at=NOW
            )
        )
        apply_profiles(conn, [kasia], now=NOW)
        attributes = dict(conn.execute(select(customers.c.id, customers.c.attributes)).all())
    assert attributes[sasha]["store"] == "online" and attributes[kasia]["modelled_age_band"] == "26-35"

    source.write_text(original.replace(",Warszawa,00-950,PL", ",Warszawa,,PL"), encoding="utf-8")
    with app.engine.begin() as conn:
        conn.execute(delete(modelled_values))  # a later model run no longer models her age band
    again = enrich()
    assert "demo.urbanisation" not in again["kasia"], "the overlay value outlived the postcode it came from"
    assert not any(k.startswith("modelled_") for k in again["kasia"])
    assert again["susan"]["demo.urbanisation"] == "urban" and again["sasha"]["store"] == "online"

    with app.engine.begin() as conn:
        record_answer(conn, sasha, {"store": None}, survey="survey:1", at=NOW)
        store = conn.execute(select(customers.c.attributes).where(customers.c.id == sasha)).scalar_one()["store"]
        lineage = conn.execute(
            select(source_records.c.normalized)
            .join(customer_lineage, customer_lineage.c.source_record_id == source_records.c.id)
            .where(customer_lineage.c.customer_id == sasha, customer_lineage.c.field == "attributes.store")
        ).scalar_one()
        assert conn.execute(select(profile_attributes).where(profile_attributes.c.customer_id == sasha)).first() is None
    assert store == "Moscow Tverskaya" == lineage["store"], "the cleared answer falls back to the source's value"
