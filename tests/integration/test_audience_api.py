"""Segments through the REST API and the CLI: save, live counts with reach and freshness (saved and draft),
overlap and profile charts, snapshots, micro-segment proposals that save as segments, the mart's status
and refresh, and roles (a viewer reads, a marketer changes, an analyst refreshes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from epistola import accounts
from epistola.app import Epistola
from epistola.audience.segments import snapshot_member_ids
from epistola.cli import app as cli
from epistola.cli.common import CliState
from epistola.hub.pipeline import import_dataset
from epistola.store.schema import audit_log, customers
from epistola.synth import generate
from epistola.testing import FixedClock
from epistola.testing.web import api_client

BUYERS = {"event": {"type": "purchase", "within_days": 365}, "count": {"gte": 2}}
MEN = {"field": "gender", "eq": "m"}


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


@pytest.fixture
def loaded(app: Epistola, tmp_path: Path) -> Epistola:
    generate(tmp_path / "data", customers=250, seed=3, events_per_customer=10)
    import_dataset(app, tmp_path / "data", _NoBar)
    return app


def _key(app: Epistola, name: str, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=name, role=role, now=app.clock())}"}


def test_segments_over_http(loaded: Epistola, clock: FixedClock) -> None:
    app = loaded
    marketer, viewer, analyst = _key(app, "mia", "marketer"), _key(app, "vic", "viewer"), _key(app, "ana", "analyst")
    with api_client(app) as http:
        assert http.put("/api/v1/segments/buyers", json={"definition": BUYERS}, headers=viewer).status_code == 403
        bad = http.put(
            "/api/v1/segments/buyers", json={"definition": {"all": [{"field": "shoe", "eq": 1}]}}, headers=marketer
        )
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "all[0].field"
        saved = http.put(
            "/api/v1/segments/buyers", json={"definition": BUYERS, "description": "2+ a year"}, headers=marketer
        )
        assert saved.status_code == 200 and saved.json()["name"] == "buyers"
        http.put("/api/v1/segments/men", json={"definition": MEN}, headers=marketer)

        count = http.get("/api/v1/segments/buyers/count", headers=viewer).json()
        store = http.get("/api/v1/segments/buyers/count?engine=store", headers=viewer).json()
        assert count["total"] == store["total"] > 0
        assert count["reachable"] == store["reachable"] and set(count["reachable"]) == {"email", "sms", "post", "phone"}
        assert count["freshness"]["source"] == "mart" and store["freshness"]["source"] == "store"
        assert count["unreachable"] == count["total"] - count["reachable_any"]
        assert "mart as of" in count["freshness_text"]

        draft = http.post(
            "/api/v1/segments/count", json={"definition": {"all": [{"segment": "buyers"}, MEN]}}, headers=viewer
        ).json()
        both = http.post("/api/v1/segments/overlap", json={"segments": ["buyers", "men"]}, headers=viewer).json()
        assert both["both"][0][1] == both["both"][1][0] == draft["total"]
        assert both["sizes"][0] == count["total"] and both["svg"].startswith("<svg")

        profile = http.get("/api/v1/segments/buyers/profile", headers=viewer).json()
        assert profile["size"] == count["total"] and sum(profile["ages"].values()) == count["total"]
        assert "<svg" in profile["svg"] and "0" not in profile["purchases_last_year"]  # buyers bought

        snap = http.post("/api/v1/segments/buyers/snapshots", headers=marketer)
        assert snap.status_code == 201 and snap.json()["size"] == count["total"]

        proposal = http.post("/api/v1/segments/propose", json={"clusters": 3, "sample": 200}, headers=viewer).json()
        assert len(proposal["segments"]) == 3
        first = proposal["segments"][0]
        assert first["highlights"] and first["rule_text"]
        again = http.put("/api/v1/segments/micro-1", json={"definition": first["definition"]}, headers=marketer)
        assert again.status_code == 200
        assert http.get("/api/v1/segments/micro-1/count", headers=viewer).json()["total"] == first["count"]

        assert http.post("/api/v1/mart/refresh", headers=marketer).status_code == 403
        with app.engine.begin() as conn:  # a new customer arrives; the mart sees it after a refresh
            conn.execute(
                insert(customers).values(gender="m", created_at=clock.now, updated_at=clock.now, attributes={})
            )
        refreshed = http.post("/api/v1/mart/refresh", headers=analyst).json()
        assert refreshed["kind"] == "refresh" and refreshed["customers"] >= 1
        status = http.get("/api/v1/mart", headers=viewer).json()
        with app.engine.connect() as conn:
            active = conn.execute(select(func.count()).where(customers.c.merged_into.is_(None))).scalar_one()
        assert status["built"] and status["customers"] == active

        http.put(
            "/api/v1/segments/buyer-men", json={"definition": {"all": [{"segment": "buyers"}, MEN]}}, headers=marketer
        )
        used = http.delete("/api/v1/segments/buyers", headers=marketer)
        assert used.status_code == 409 and "buyer-men" in used.json()["error"]
        assert http.delete("/api/v1/segments/buyer-men", headers=marketer).status_code == 200
        assert http.get("/api/v1/segments/buyer-men", headers=viewer).status_code == 404
    with app.engine.connect() as conn:
        assert len(snapshot_member_ids(conn, snap.json()["id"])) == count["total"]
        actions = set(conn.execute(select(audit_log.c.action).where(audit_log.c.entity == "segment")).scalars())
    assert {"create", "snapshot", "delete"} <= actions


def _cli(app: Epistola, *args: str) -> Any:
    """Run a command in-process (each one builds its own app from settings, as `epistola` does)."""
    env = {"EPISTOLA_DATABASE_URL": app.settings.database_url, "EPISTOLA_OUTPUT_DIR": str(app.settings.output_dir)}
    cli_state = CliState()
    try:
        return CliRunner().invoke(cli, list(args), env=env, obj=cli_state)
    finally:
        if cli_state.app is not None:
            cli_state.app.close()


def test_segments_from_the_command_line(loaded: Epistola, tmp_path: Path) -> None:
    app = loaded
    definition = tmp_path / "buyers.yaml"
    definition.write_text("event: {type: purchase, within_days: 365}\ncount: {gte: 2}\n", encoding="utf-8")
    saved = _cli(app, "segment", "save", "buyers", str(definition), "--description", "2+ a year")
    assert saved.exit_code == 0, saved.output
    assert "reachable for marketing" in saved.output and "mart as of" in saved.output
    counted = _cli(app, "segment", "count", "buyers", "--json")
    store = _cli(app, "segment", "count", "buyers", "--engine", "store", "--json")
    assert counted.exit_code == 0 and store.exit_code == 0
    assert '"total"' in counted.output
    (tmp_path / "men.yaml").write_text("field: gender\neq: m\n", encoding="utf-8")
    assert _cli(app, "segment", "save", "men", str(tmp_path / "men.yaml")).exit_code == 0
    overlap = _cli(app, "segment", "overlap", "buyers", "men", "--html", str(tmp_path / "o.html"))
    assert overlap.exit_code == 0 and (tmp_path / "o.html").read_text().count("<svg") == 1
    profile = _cli(app, "segment", "profile", "buyers", "--html", str(tmp_path / "p.html"))
    assert profile.exit_code == 0 and (tmp_path / "p.html").read_text().count("<svg") >= 4
    snapshot = _cli(app, "segment", "snapshot", "buyers")
    assert snapshot.exit_code == 0 and "snapshot" in snapshot.output
    proposed = _cli(app, "segment", "propose", "--clusters", "3", "--sample", "200", "--save", "micro")
    assert proposed.exit_code == 0, proposed.output
    listed = _cli(app, "segment", "list")
    assert "micro-3" in listed.output and "buyers" in listed.output
    assert _cli(app, "mart", "refresh").exit_code == 0
    status = _cli(app, "mart", "status")
    assert status.exit_code == 0 and "customers" in status.output
    shown = _cli(app, "segment", "show", "buyers")
    assert "2+ a year" in shown.output and "purchase" in shown.output
    missing = _cli(app, "segment", "count", "nobody")
    assert missing.exit_code != 0
    both = _cli(app, "segment", "count", "buyers", "--file", str(definition))
    assert both.exit_code != 0
