"""Identity through the API and the CLI: the review queue, decisions, explanations, merge and unmerge,
and the stand-alone `epistola identity resolve` on a file (no database)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hub_fixtures import run_cli
from identity_fixtures import FIXTURES, customer_of, resolved_app, rid
from typer.testing import CliRunner

from epistola import accounts
from epistola.app import Epistola
from epistola.errors import InputError
from epistola.identity import store
from epistola.testing.web import api_client


@pytest.fixture
def resolved(app: Epistola) -> Epistola:
    return resolved_app(app)


def _key(app: Epistola, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=f'k-{role}', role=role, now=app.clock())}"}


def test_review_explain_merge_unmerge_over_the_api(resolved: Epistola) -> None:
    app = resolved
    analyst, viewer = _key(app, "analyst"), _key(app, "viewer")
    with api_client(app) as client:
        queue = client.get("/api/v1/identity/review", headers=viewer).json()
        assert queue["total"] >= 1
        first = queue["items"][0]
        assert {"left", "right", "probability"} <= set(first)
        refused = client.post(f"/api/v1/identity/review/{first['id']}", json={"decision": "match"}, headers=viewer)
        assert refused.status_code == 403 and refused.json()["ok"] is False
        done = client.post(f"/api/v1/identity/review/{first['id']}", json={"decision": "match"}, headers=analyst)
        assert done.status_code == 200, done.text
        assert done.json()["merged"]["kind"] == "merge"
        missing = client.post("/api/v1/identity/review/999999", json={"decision": "match"}, headers=analyst)
        assert missing.status_code == 404 and missing.json()["ok"] is False

        with app.engine.connect() as conn:
            bill, thomas = customer_of(conn, "crm", "C1"), customer_of(conn, "shop", "S7")
            left, right = rid(conn, "crm", "C1"), rid(conn, "shop", "S1")
        why = client.get(f"/api/v1/identity/customers/{bill}", headers=viewer).json()
        assert len(why["links"]) == 1 and why["links"][0]["waterfall"]
        assert {w["comparison"] for w in why["links"][0]["waterfall"]} >= {"name", "email", "contact"}
        pair = client.get("/api/v1/identity/pairs", params={"left": left, "right": right}, headers=viewer).json()
        assert pair["match_probability"] > 0.8 and pair["evidence_for_auto_merge"] is True

        merged = client.post("/api/v1/identity/merges", json={"keeper": bill, "other": thomas}, headers=analyst)
        assert merged.status_code == 201, merged.text
        entry = merged.json()["history_id"]
        history = client.get(f"/api/v1/identity/customers/{bill}/history", headers=viewer).json()["items"]
        assert [h["kind"] for h in history] == ["merge"]
        undone = client.post(f"/api/v1/identity/merges/{entry}/undo", json={"note": "two people"}, headers=analyst)
        assert undone.status_code == 200 and undone.json()["other_id"] == thomas
        again = client.post(f"/api/v1/identity/merges/{entry}/undo", json={}, headers=analyst)
        assert again.status_code == 409

        models = client.get("/api/v1/identity/models", headers=viewer).json()["items"]
        assert models[0]["version"] == 1 and "name" in models[0]["levels"]
        # A few dozen records are too few to train on: the model says so rather than "trained".
        assert models[0]["note"].startswith("starting model") and "not trained" in models[0]["trained"]["method"]


def test_cli_explains_and_works_the_queue(resolved: Epistola) -> None:
    app = resolved
    with app.engine.connect() as conn:
        bill = customer_of(conn, "crm", "C1")
        link = store.review_queue(conn, limit=1)[0]["id"]
    shown = run_cli(app, "identity", "explain", str(bill))
    assert shown.exit_code == 0, shown.output
    assert "Waterfall" in shown.output and "same family name, given name a form of it" in shown.output
    listed = run_cli(app, "identity", "review")
    assert listed.exit_code == 0 and "Review queue" in listed.output
    pair = run_cli(app, "identity", "pair", "test_crm:C7", "test_shop:S5")
    assert pair.exit_code == 0 and "given and family name swapped" in pair.output
    decided = run_cli(app, "identity", "decide", str(link), "no_match", "--note", "checked")
    assert decided.exit_code == 0 and "no_match" in decided.output
    with pytest.raises(InputError, match="SOURCE:KEY"):
        run_cli(app, "identity", "pair", "nope", "1")


def test_stand_alone_resolve_of_a_file(tmp_path: Path) -> None:
    """No database: a CSV and a mapping in, record_id,cluster_id out."""
    from epistola.cli import app as cli

    people = tmp_path / "people.csv"
    shop = (FIXTURES / "shop.csv").read_text(encoding="utf-8").splitlines()
    with (FIXTURES / "crm.csv").open(encoding="utf-8") as fh:
        crm = list(csv.DictReader(fh))
    rows = ["card_no,given_name,surname,phone,email,address,city,postcode,country,email_opt_in,updated_at", *shop[1:]]
    for r in crm:  # the CRM rows written in the shop's layout, so one file holds both
        rows.append(
            f"{r['customer_no']},{r['first_name']},{r['last_name']},{r['phone']},{r['email']},{r['street']},"
            f"{r['city']},{r['postcode']},{r['country']},,{r['updated_at'][:10]}"
        )
    people.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out, pairs = tmp_path / "clusters.csv", tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        cli,
        [
            "identity",
            "resolve",
            str(people),
            "--mapping",
            str(FIXTURES / "shop.yaml"),
            "--out",
            str(out),
            "--pairs",
            str(pairs),
            "--workers",
            "1",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as fh:
        clusters = {r["record_id"]: r["cluster_id"] for r in csv.DictReader(fh)}
    assert len(clusters) == 15
    assert clusters["C1"] == clusters["S1"]  # William / Bill
    assert clusters["C3"] == clusters["S2"]  # Александр / Sasha
    assert clusters["C1"] != clusters["C2"]  # husband and wife
    assert "record_id_l" in pairs.read_text(encoding="utf-8")
    missing = CliRunner().invoke(
        cli, ["identity", "resolve", str(tmp_path / "none.csv"), "--mapping", str(FIXTURES / "shop.yaml")]
    )
    assert missing.exit_code != 0
