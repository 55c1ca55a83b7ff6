"""The campaign loop through the REST API, with roles: a marketer plans and starts, a viewer only reads."""

from __future__ import annotations

from pathlib import Path

from epistola import accounts
from epistola.app import Epistola
from epistola.audience.segments import save_segment
from epistola.content.templates import approve, save_version
from epistola.hub.pipeline import import_dataset
from epistola.testing.web import api_client

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"


class _NoBar:
    def __init__(self, *_: object) -> None: ...
    def __enter__(self):  # type: ignore[no-untyped-def]
        return lambda done, total: None

    def __exit__(self, *_: object) -> None: ...


def _key(app: Epistola, name: str, role: str) -> dict[str, str]:
    with app.engine.begin() as conn:
        return {"Authorization": f"Bearer {accounts.create_key(conn, name=name, role=role, now=app.clock())}"}


def test_campaign_lifecycle_over_http(app: Epistola) -> None:
    import_dataset(app, FIXTURES, _NoBar)
    now = app.clock()
    with app.engine.begin() as conn:
        save_segment(conn, name="with-email", definition={"field": "email", "exists": True}, now=now)
        save_version(conn, name="hello", subject="Hi", body="Hello {{ customer.first_name or 'there' }}", now=now)
        approve(conn, name="hello", version=None, by="test", now=now)
    marketer, viewer = _key(app, "mia", "marketer"), _key(app, "vic", "viewer")
    with api_client(app) as http:
        body = {"name": "spring", "segment": "with-email", "template": "hello", "control_pct": 20}
        assert http.post("/api/v1/campaigns", json=body, headers=viewer).status_code == 403
        created = http.post("/api/v1/campaigns", json=body, headers=marketer)
        assert created.status_code == 201 and created.json()["status"] == "draft"
        again = http.post("/api/v1/campaigns", json=body, headers=marketer)
        assert again.status_code == 409 and again.json()["ok"] is False
        figures = http.post("/api/v1/campaigns/spring/start", headers=marketer).json()
        assert figures["audience"] == figures["target"] + figures["control"] and figures["queued"] == figures["target"]
        paused = http.post("/api/v1/campaigns/spring/pause", headers=marketer).json()
        assert paused["status"] == "paused" and paused["messages"] == {"queued": figures["target"]}
        assert http.post("/api/v1/campaigns/spring/pause", headers=marketer).status_code == 409
        assert http.post("/api/v1/campaigns/spring/explode", headers=marketer).status_code == 400
        cancelled = http.post("/api/v1/campaigns/spring/cancel", headers=marketer).json()
        assert cancelled["messages"] == {"cancelled": figures["target"]}
        report = http.get("/api/v1/campaigns/spring/report", headers=viewer).json()
        assert report["target"]["size"] == figures["target"] and report["control"]["size"] == figures["control"]
        listed = http.get("/api/v1/campaigns", headers=viewer).json()
        assert [c["name"] for c in listed] == ["spring"]
        customers = http.get("/api/v1/customers?limit=3", headers=viewer).json()
        assert customers["total"] == 8 and len(customers["items"]) == 3 and customers["next_after"] == 3
        one = http.get("/api/v1/customers/1", headers=viewer).json()
        assert one["customer"]["id"] == 1 and one["lineage"] and one["source_records"]
        assert http.get("/api/v1/customers/999", headers=viewer).status_code == 404
        audit = http.get("/api/v1/audit?entity=campaign", headers=_key(app, "root", "admin")).json()
        actions = {(row["actor"], row["action"]) for row in audit["items"]}
        assert {("mia", "create"), ("mia", "start"), ("mia", "pause"), ("mia", "cancel")} <= actions
