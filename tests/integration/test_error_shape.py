"""Every way a request can fail answers with the same shape (after datasette's test_error_shape.py).

``{"ok": false, "error": str, "errors": [{"message", "field"?, "row"?, "file"?}], "status": int}``
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import APIRouter, HTTPException

from epistola import accounts
from epistola.app import Epistola
from epistola.errors import (
    Conflict,
    InputError,
    NotFound,
    PermanentDeliveryError,
    Problem,
    StorageError,
)
from epistola.testing.web import TestClient, api_client
from epistola.web import create_api
from epistola.web.app import ROUTERS
from epistola.web.deps import PublicRoute

PERSONAL = "anna.kowalska@example.pl"

boom = APIRouter(prefix="/boom", route_class=PublicRoute)


@boom.get("/input")
def _input() -> None:
    raise InputError(
        "the file has bad rows",
        hint="Fix them and import again.",
        problems=[
            Problem(message="not an e-mail address", file="people.csv", row=7, field="email"),
            Problem(message="unknown country", row=9, field="country"),
        ],
    )


@boom.get("/missing")
def _missing() -> None:
    raise NotFound("no segment with id 9")


@boom.get("/conflict")
def _conflict() -> None:
    raise Conflict("the campaign is already running")


@boom.get("/storage")
def _storage() -> None:
    raise StorageError(f"insert failed: duplicate key (email)=({PERSONAL})")


@boom.get("/delivery")
def _delivery() -> None:
    raise PermanentDeliveryError(f"550 no such user {PERSONAL}")


@boom.get("/http")
def _http() -> None:
    raise HTTPException(status_code=418, detail="I'm a teapot")


@boom.get("/crash")
def _crash() -> None:
    raise RuntimeError(f"unexpected: {PERSONAL}")


@pytest.fixture
def client(app: Epistola) -> TestClient:
    return TestClient(create_api(app, routers=[*ROUTERS, boom]), raise_server_exceptions=False)


@pytest.fixture
def admin_headers(app: Epistola) -> dict[str, str]:
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name="root", role="admin", now=app.clock())
    return {"Authorization": f"Bearer {key}"}


def assert_error_shape(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert list(body) == ["ok", "error", "errors", "status"]
    assert body["ok"] is False
    assert body["status"] == status
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["errors"], list) and body["errors"]
    for item in body["errors"]:
        assert "message" in item and isinstance(item["message"], str)
        assert set(item) <= {"message", "field", "row", "file"}
    return body


def test_input_error_lists_each_problem_with_where(client: TestClient) -> None:
    body = assert_error_shape(client.get("/boom/input"), 400)
    assert body["error"] == "the file has bad rows. Fix them and import again."
    assert body["errors"] == [
        {"message": "not an e-mail address", "file": "people.csv", "row": 7, "field": "email"},
        {"message": "unknown country", "row": 9, "field": "country"},
    ]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/boom/missing", 404, "no segment with id 9"),
        ("/boom/conflict", 409, "the campaign is already running"),
        ("/boom/http", 418, "I'm a teapot"),
        ("/no/such/route", 404, "Not Found"),
    ],
)
def test_client_errors_keep_their_message(client: TestClient, path: str, status: int, message: str) -> None:
    body = assert_error_shape(client.get(path), status)
    assert body["error"] == message
    assert body["errors"] == [{"message": message}]


def test_wrong_method(client: TestClient) -> None:
    response = client.post("/health")
    body = assert_error_shape(response, 405)
    assert body["error"] == "Method Not Allowed"
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/boom/storage", 503, "Service Unavailable"),
        ("/boom/delivery", 502, "Bad Gateway"),
        ("/boom/crash", 500, "Internal Server Error"),
    ],
)
def test_server_errors_reveal_nothing_and_log_no_personal_data(
    client: TestClient, caplog: pytest.LogCaptureFixture, path: str, status: int, message: str
) -> None:
    with caplog.at_level(logging.ERROR, logger="epistola.web"):
        response = client.get(path)
    body = assert_error_shape(response, status)
    assert body["error"] == message
    assert PERSONAL not in response.text and "Traceback" not in response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert path in logged and "Error" in logged  # the route and the exception type are logged
    assert PERSONAL not in logged


def test_missing_api_key(client: TestClient) -> None:
    response = client.get("/api/v1/keys")
    body = assert_error_shape(response, 401)
    assert body["errors"] == [{"message": "an API key is required"}]
    assert response.headers["www-authenticate"] == "Bearer"


def test_wrong_api_key(client: TestClient) -> None:
    response = client.get("/api/v1/keys", headers={"X-API-Key": "ep_a_" + "x" * 43})
    body = assert_error_shape(response, 401)
    assert body["error"] == "the API key is not valid or has been revoked"


def test_forbidden(app: Epistola, client: TestClient) -> None:
    with app.engine.begin() as conn:
        key = accounts.create_key(conn, name="eve", role="viewer", now=app.clock())
    body = assert_error_shape(client.get("/api/v1/keys", headers={"X-API-Key": key}), 403)
    assert body["error"] == "the viewer role does not have the admin permission"


def test_body_validation_names_each_field(client: TestClient, admin_headers: dict[str, str]) -> None:
    response = client.post("/api/v1/keys", json={"name": "", "role": "boss"}, headers=admin_headers)
    body = assert_error_shape(response, 400)
    assert [e["field"] for e in body["errors"]] == ["name", "role"]
    assert "boss" not in response.text  # input values are not echoed back


def test_missing_body_field(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = assert_error_shape(client.post("/api/v1/keys", json={"name": "x"}, headers=admin_headers), 400)
    assert body["errors"] == [{"message": "Field required", "field": "role"}]


def test_malformed_json(client: TestClient, admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    body = assert_error_shape(client.post("/api/v1/keys", content=b'{"name": ', headers=headers), 400)
    assert body["errors"][0]["field"] == "body"
    assert body["errors"][0]["message"].startswith("the body is not valid JSON")


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/audit?limit=0", "limit"),
        ("/api/v1/audit?limit=many", "limit"),
        ("/api/v1/audit?before=-1", "before"),
    ],
)
def test_query_validation(client: TestClient, admin_headers: dict[str, str], path: str, field: str) -> None:
    body = assert_error_shape(client.get(path, headers=admin_headers), 400)
    assert [e["field"] for e in body["errors"]] == [field]


def test_path_validation(client: TestClient, admin_headers: dict[str, str]) -> None:
    body = assert_error_shape(client.delete("/api/v1/keys/abc", headers=admin_headers), 400)
    assert [e["field"] for e in body["errors"]] == ["key_id"]


def test_domain_errors_from_real_routes(client: TestClient, admin_headers: dict[str, str]) -> None:
    assert_error_shape(client.delete("/api/v1/keys/999", headers=admin_headers), 404)
    client.post("/api/v1/keys", json={"name": "twin", "role": "viewer"}, headers=admin_headers)
    body = assert_error_shape(
        client.post("/api/v1/keys", json={"name": "twin", "role": "viewer"}, headers=admin_headers), 409
    )
    assert "twin" in body["error"]


def test_the_client_helper_builds_the_same_api(app: Epistola) -> None:
    assert_error_shape(api_client(app).get("/nowhere"), 404)
