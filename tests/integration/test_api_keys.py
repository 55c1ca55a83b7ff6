"""API keys, roles and the audit trail, through real HTTP requests on both databases."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import select

from epistola import accounts, audit
from epistola.accounts import Role
from epistola.app import Epistola
from epistola.errors import ConfigError, Conflict
from epistola.store.schema import api_keys, audit_log
from epistola.testing import FixedClock
from epistola.testing.web import TestClient, api_client
from epistola.web import build_server, create_api
from epistola.web.app import ROUTERS
from epistola.web.deps import is_public

PUBLIC_PATHS = {
    "/health",
    "/openapi.json",
    "/docs",
    "/t/c/{token:path}",
    "/t/o/{token:path}.gif",
    "/p/{token:path}",  # personal pages (surveys)
    "/preferences/{token}",  # preference centre (signed token)
    "/unsubscribe/{token}",  # one-click unsubscribe (signed token)
    "/sms/inbound",  # inbound SMS webhook (HMAC-signed body)
    "/hooks/{provider}",  # bounce and complaint webhooks (shared secret or provider signature)
}


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return api_client(app)


@pytest.fixture
def admin_key(app: Epistola) -> str:
    with app.engine.begin() as conn:
        return accounts.create_key(conn, name="root", role="admin", now=app.clock())


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_every_route_not_marked_public_requires_a_key(app: Epistola, client: TestClient) -> None:
    api = create_api(app)
    public = set()
    checked = 0
    for context in iter_route_contexts(api.routes):
        assert isinstance(context.original_route, APIRoute), f"{context.path} bypasses the API's conventions"
        if is_public(context.original_route):
            public.add(context.path)
            continue
        path = re.sub(r"\{[^}]+\}", "1", str(context.path))
        for method in sorted((context.methods or set()) - {"HEAD"}):
            response = client.request(method, path)
            assert response.status_code == 401, f"{method} {context.path} answered without a key"
            checked += 1
    assert {p for p in public if not p.startswith("/ui")} == PUBLIC_PATHS
    assert checked >= 5, "the walk must reach the key, audit and domain routes"


UI_OPEN = {"/ui/login", "/ui/logout", "/ui/static/{name}"}


def test_every_ui_page_needs_a_session(app: Epistola, client: TestClient) -> None:
    """UI routes carry no API key: they check the signed session cookie instead, and send strangers to sign in."""
    checked = 0
    for context in iter_route_contexts(create_api(app).routes):
        if not str(context.path).startswith("/ui") or context.path in UI_OPEN:
            continue
        path = re.sub(r"\{[^}]+\}", "1", str(context.path))
        for method in sorted((context.methods or set()) - {"HEAD"}):
            response = client.request(method, path, follow_redirects=False)
            if path.endswith(".json"):
                assert response.status_code == 401, f"{method} {context.path} answered without a session"
            else:
                assert (response.status_code, response.headers.get("location")) == (303, "/ui/login"), context.path
            checked += 1
    assert checked >= 5


def test_a_route_that_forgets_require_still_needs_a_key(app: Epistola, admin_key: str) -> None:
    forgetful = APIRouter(prefix="/api/v1/forgetful")

    @forgetful.get("")
    def anything() -> dict[str, bool]:
        return {"reached": True}

    client = TestClient(create_api(app, routers=[*ROUTERS, forgetful]))
    assert client.get("/api/v1/forgetful").status_code == 401
    assert client.get("/api/v1/forgetful", headers=bearer(admin_key)).json() == {"reached": True}


ADMIN_CALLS = [
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("DELETE", "/api/v1/keys/1"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/audit/verify"),
]
ALLOWED = {
    Role.ADMIN: {call for call in ADMIN_CALLS},
    Role.PRIVACY: {("GET", "/api/v1/audit"), ("GET", "/api/v1/audit/verify")},
    Role.MARKETER: set(),
    Role.ANALYST: set(),
    Role.VIEWER: set(),
}


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix(app: Epistola, client: TestClient, admin_key: str, role: Role) -> None:
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name="caller", role=role, now=app.clock())
        spare = accounts.create_key(conn, name="spare-admin", role="admin", now=app.clock())
    assert spare
    for method, path in ADMIN_CALLS:
        body = {"name": f"made-by-{role}", "role": "viewer"} if method == "POST" else None
        response = client.request(method, path, json=body, headers={"X-API-Key": key})
        if (method, path) in ALLOWED[role]:
            assert response.status_code < 300, (method, path, response.json())
        else:
            assert response.status_code == 403, (method, path)
            assert response.json()["error"].startswith(f"the {role.value} role does not have")


def test_key_is_shown_once_and_only_its_hash_is_stored(app: Epistola, client: TestClient, admin_key: str) -> None:
    response = client.post("/api/v1/keys", json={"name": "campaigns", "role": "marketer"}, headers=bearer(admin_key))
    assert response.status_code == 201
    created = response.json()
    plaintext = created["key"]
    assert re.fullmatch(r"ep_m_[A-Za-z0-9_-]{43}", plaintext)
    assert created["role"] == "marketer"
    assert created["permissions"] == ["manage_campaigns", "manage_content", "read"]

    listed = client.get("/api/v1/keys", headers=bearer(admin_key)).json()
    assert [k["name"] for k in listed] == ["root", "campaigns"]
    assert plaintext not in client.get("/api/v1/keys", headers=bearer(admin_key)).text
    assert all("key" not in k and "key_hash" not in k for k in listed)

    with app.engine.connect() as conn:
        stored = conn.execute(select(api_keys).where(api_keys.c.name == "campaigns")).mappings().one()
        dump = [str(v) for row in conn.execute(select(api_keys)).all() for v in row]
    assert stored["key_hash"] == accounts.hash_key(plaintext)
    assert not any(plaintext in value for value in dump)

    # the new key works, with its own role
    assert client.get("/api/v1/keys", headers={"X-API-Key": plaintext}).status_code == 403


def test_revoked_key_is_refused(app: Epistola, client: TestClient, admin_key: str) -> None:
    created = client.post("/api/v1/keys", json={"name": "ops", "role": "admin"}, headers=bearer(admin_key)).json()
    assert client.get("/api/v1/keys", headers=bearer(created["key"])).status_code == 200
    response = client.delete(f"/api/v1/keys/{created['id']}", headers=bearer(admin_key))
    assert response.status_code == 200
    assert response.json()["revoked_at"] == app.clock().isoformat().replace("+00:00", "Z")
    refused = client.get("/api/v1/keys", headers=bearer(created["key"]))
    assert refused.status_code == 401
    assert client.delete(f"/api/v1/keys/{created['id']}", headers=bearer(admin_key)).status_code == 409
    active = client.get("/api/v1/keys?include_revoked=false", headers=bearer(admin_key)).json()
    assert [k["name"] for k in active] == ["root"]


def test_the_last_admin_key_cannot_be_revoked(app: Epistola, client: TestClient, admin_key: str) -> None:
    (root,) = client.get("/api/v1/keys", headers=bearer(admin_key)).json()
    response = client.delete(f"/api/v1/keys/{root['id']}", headers=bearer(admin_key))
    assert response.status_code == 409
    assert client.get("/api/v1/keys", headers=bearer(admin_key)).status_code == 200


def test_each_change_is_audited_and_the_chain_verifies(
    app: Epistola, client: TestClient, admin_key: str, clock: FixedClock
) -> None:
    clock.advance(minutes=5)
    made = client.post("/api/v1/keys", json={"name": "analytics", "role": "analyst"}, headers=bearer(admin_key))
    clock.advance(minutes=5)
    client.delete(f"/api/v1/keys/{made.json()['id']}", headers=bearer(admin_key))
    client.post("/api/v1/keys", json={"name": "", "role": "analyst"}, headers=bearer(admin_key))  # refused

    page = client.get("/api/v1/audit", headers=bearer(admin_key)).json()
    entries = [(e["actor"], e["action"], e["entity"], e["details"], e["origin"]) for e in page["items"]]
    assert entries == [
        ("root", "api_key.revoke", "api_key", {"name": "analytics", "role": "analyst"}, "api"),
        ("root", "api_key.create", "api_key", {"name": "analytics", "role": "analyst"}, "api"),
        ("system", "api_key.create", "api_key", {"name": "root", "role": "admin"}, None),
    ]
    assert page["items"][0]["occurred_at"] == clock.now.isoformat().replace("+00:00", "Z")
    assert page["next_before"] is None

    verified = client.get("/api/v1/audit/verify", headers=bearer(admin_key)).json()
    assert verified == {"intact": True, "rows": 3, "first_broken_id": None}

    with app.engine.begin() as conn:
        conn.execute(audit_log.update().where(audit_log.c.id == 2).values(actor="someone-else"))
    broken = client.get("/api/v1/audit/verify", headers=bearer(admin_key)).json()
    assert broken == {"intact": False, "rows": 2, "first_broken_id": 2}


def test_audit_pages_by_id(app: Epistola, client: TestClient, admin_key: str) -> None:
    with app.engine.begin() as conn:
        for i in range(7):
            audit.record(conn, at=app.clock(), actor="cli", action="segment.create", entity="segment", entity_id=i)
    seen: list[int] = []
    url = "/api/v1/audit?limit=3&entity=segment"
    while True:
        page = client.get(url, headers=bearer(admin_key)).json()
        seen += [int(e["entity_id"]) for e in page["items"]]
        if page["next_before"] is None:
            break
        url = f"/api/v1/audit?limit=3&entity=segment&before={page['next_before']}"
    assert seen == [6, 5, 4, 3, 2, 1, 0]
    only = client.get("/api/v1/audit?actor=system", headers=bearer(admin_key)).json()["items"]
    assert [e["action"] for e in only] == ["api_key.create"]


def test_failed_request_writes_nothing(app: Epistola, client: TestClient, admin_key: str) -> None:
    client.post("/api/v1/keys", json={"name": "root", "role": "viewer"}, headers=bearer(admin_key))  # 409
    with app.engine.connect() as conn:
        assert conn.execute(select(audit_log.c.action)).scalars().all() == ["api_key.create"]


def test_ensure_admin_key_bootstraps_once(app: Epistola) -> None:
    chosen = "operator-chosen-admin-key-0123456789abcdef"
    with app.engine.begin() as conn:
        first = accounts.ensure_admin_key(conn, chosen, app.clock())
        again = accounts.ensure_admin_key(conn, chosen, app.clock())
        assert first == again and first.role is Role.ADMIN and first.name == "bootstrap-admin"
        assert accounts.authenticate(conn, chosen) == first
        other = accounts.ensure_admin_key(conn, chosen + "-rotated", app.clock())
        assert other.name == "bootstrap-admin-2"
        accounts.revoke_key(conn, first.id, now=app.clock())
        with pytest.raises(ConfigError, match="revoked"):
            accounts.ensure_admin_key(conn, chosen, app.clock())
        with pytest.raises(ConfigError, match="32 to 200"):
            accounts.ensure_admin_key(conn, "short", app.clock())
        actions = conn.execute(select(audit_log.c.actor, audit_log.c.action)).all()
    assert actions == [
        ("bootstrap", "api_key.create"),
        ("bootstrap", "api_key.create"),
        ("system", "api_key.revoke"),
    ]


def test_authenticate_refuses_garbage(app: Epistola) -> None:
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name="k", role="viewer", now=app.clock())
        assert accounts.authenticate(conn, key) is not None
        for garbage in [None, "", key[:-1], key + "x", key.upper(), "x" * 10_000, "\x00" + key]:
            assert accounts.authenticate(conn, garbage) is None
        with pytest.raises(Conflict):
            accounts.create_key(conn, name="k", role="admin", now=app.clock())


def test_health(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["ok"] is True and body["schema_revision"] is not None
    assert body["database"] in ("sqlite", "postgresql")


def test_docs_page_lists_the_endpoints_without_any_remote_asset(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for path in ["/api/v1/keys", "/api/v1/audit/verify", "/health", "/t/c/{token}"]:
        assert f"<code>{path}</code>" in page.text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    spec = client.get("/openapi.json").json()
    assert spec["info"]["title"] == "Epistola"
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


@pytest.fixture
def running(app: Epistola) -> Iterator[str]:
    server = build_server(app, host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_served_over_a_real_socket(running: str, admin_key: str) -> None:
    assert httpx.get(f"{running}/health").json()["ok"] is True
    assert httpx.get(f"{running}/api/v1/keys", headers=bearer(admin_key)).status_code == 200
    assert httpx.get(f"{running}/api/v1/keys").status_code == 401
