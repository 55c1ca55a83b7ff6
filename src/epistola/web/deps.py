"""The conventions every route follows, as FastAPI dependencies: one place to read, one place to change.

    @router.post("/things", status_code=201)
    def create_thing(body: ThingIn, conn: ConnDep, key: Annotated[ApiKey, require(Permission.MANAGE_DATA)],
                     request: Request) -> ThingOut:
        ...
        audited(conn, key, "thing.create", "thing", thing_id, {"name": body.name}, request)

Every route needs an API key unless its router is built with ``route_class=PublicRoute``; `mount`
in `epistola.web.app` enforces that, and a test walks the routes to prove it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Annotated, Any, cast

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection

from epistola import audit
from epistola.accounts import ApiKey, Permission, authenticate
from epistola.app import Epistola
from epistola.errors import AuthError, Forbidden
from epistola.store import wrap_db_errors


class PublicRoute(APIRoute):
    """A route anyone may call (health, tracking, unsubscribe, PURL pages). Build such routers with
    ``APIRouter(route_class=PublicRoute)``; every other route requires an API key."""


def is_public(route: object) -> bool:
    return isinstance(route, PublicRoute)


def get_app(request: Request) -> Epistola:
    return cast(Epistola, request.app.state.epistola)


AppDep = Annotated[Epistola, Depends(get_app)]


def get_conn(app: AppDep) -> Iterator[Connection]:
    """One transaction per request: committed when the route returns, rolled back if it raises.

    Scoped to the route function, so the commit happens before the response is sent: a client that
    sees 2xx knows the change is stored.
    """
    with wrap_db_errors("connecting to the database"):
        conn = app.engine.connect()
    try:
        with conn.begin():
            yield conn
    finally:
        conn.close()


ConnDep = Annotated[Connection, Depends(get_conn, scope="function")]

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="`X-API-Key: <API key>`")


def current_key(
    conn: ConnDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_api_key_header)],
) -> ApiKey:
    presented = bearer.credentials if bearer is not None else header_key
    if not presented:
        raise AuthError(
            "an API key is required",
            hint="Send it as `Authorization: Bearer <key>` or `X-API-Key: <key>`.",
        )
    key = authenticate(conn, presented)
    if key is None:
        raise AuthError("the API key is not valid or has been revoked")
    return key


CurrentKey = Annotated[ApiKey, Depends(current_key)]


@functools.cache
def require(permission: Permission) -> Any:
    """A dependency that passes the current key on if its role grants `permission`, else 403.

    Use as ``key: Annotated[ApiKey, require(Permission.X)]`` or in ``dependencies=[require(...)]``.
    """

    def has_permission(key: CurrentKey) -> ApiKey:
        if not key.can(permission):
            raise Forbidden(f"the {key.role.value} role does not have the {permission.value} permission")
        return key

    has_permission.__name__ = f"require_{permission.value}"
    return Depends(has_permission)


AdminKey = Annotated[ApiKey, require(Permission.ADMIN)]
AuditKey = Annotated[ApiKey, require(Permission.AUDIT)]
ReaderKey = Annotated[ApiKey, require(Permission.READ)]


def client_ip(request: Request) -> str | None:
    """Where the request came from (uvicorn resolves X-Forwarded-For from trusted proxies).

    Only for the proof of a consent a customer gives on a page (erased with them); never an audit origin.
    """
    return request.client.host if request.client else None


#: The audit origin of every change made with an API key. The key's name is the actor; the caller's
#: address is not kept (docs/privacy.md, "Audit"): a key identifies the caller, an address adds nothing
#: but personal data in an append-only log.
API_ORIGIN = "api"


def audited(
    conn: Connection,
    key: ApiKey,
    action: str,
    entity: str,
    entity_id: object,
    details: dict[str, Any] | None,
    request: Request,
) -> None:
    """Write the audit row of a change made through the API: who (key name), what, when; origin ``api``.

    `details` must not hold personal data: name the record, do not copy it.
    """
    audit.record(
        conn,
        at=get_app(request).clock(),
        actor=key.name,
        action=action,
        entity=entity,
        entity_id=entity_id,
        details=details,
        origin=API_ORIGIN,
    )
