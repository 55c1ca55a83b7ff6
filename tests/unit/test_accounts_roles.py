"""The role table and the key format: pure rules, no database."""

from __future__ import annotations

import hashlib
import re

import pytest

from epistola.accounts import (
    KEY_PREFIX,
    ROLE_PERMISSIONS,
    ApiKey,
    Permission,
    Role,
    hash_key,
    new_key,
    parse_role,
)
from epistola.errors import InputError
from epistola.testing import FixedClock

P = Permission
GRANTS = {
    Role.ADMIN: set(Permission),
    Role.MARKETER: {P.READ, P.MANAGE_CAMPAIGNS, P.MANAGE_CONTENT},
    Role.ANALYST: {P.READ, P.MANAGE_DATA},
    Role.VIEWER: {P.READ},
    Role.PRIVACY: {P.READ, P.PRIVACY, P.AUDIT},
}


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_role_grants(role: Role, permission: Permission) -> None:
    key = ApiKey(id=1, name="k", role=role, created_at=FixedClock()())
    assert key.can(permission) is (permission in GRANTS[role])


def test_every_role_has_a_table_row_and_a_distinct_prefix() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)
    assert len(set(KEY_PREFIX.values())) == len(Role)


def test_only_admin_may_administer() -> None:
    assert [r for r in Role if P.ADMIN in ROLE_PERMISSIONS[r]] == [Role.ADMIN]


@pytest.mark.parametrize(
    ("role", "prefix"),
    [
        (Role.ADMIN, "ep_a_"),
        (Role.MARKETER, "ep_m_"),
        (Role.ANALYST, "ep_n_"),
        (Role.VIEWER, "ep_v_"),
        (Role.PRIVACY, "ep_p_"),
    ],
)
def test_key_format(role: Role, prefix: str) -> None:
    key = new_key(role)
    assert re.fullmatch(re.escape(prefix) + r"[A-Za-z0-9_-]{43}", key)


def test_keys_are_random_and_hashed_to_sha256_hex() -> None:
    keys = {new_key(Role.VIEWER) for _ in range(100)}
    assert len(keys) == 100
    assert hash_key("ep_v_x") == hashlib.sha256(b"ep_v_x").hexdigest()


@pytest.mark.parametrize("value", ["root", "ADMIN", "", "admin "])
def test_unknown_roles_name_the_allowed_ones(value: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_role(value)
    (problem,) = caught.value.problems
    assert problem.field == "role"
    assert "admin, marketer, analyst, viewer, privacy" in problem.message


def test_roles_parse_from_their_names() -> None:
    assert [parse_role(r.value) for r in Role] == list(Role)
