"""The render context and the sandbox's fast paths give exactly what the generic code gives."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from jinja2.filters import do_urlencode
from jinja2.sandbox import ImmutableSandboxedEnvironment

from epistola.content.context import CUSTOMER_FIELDS, LINK_NAMES, customer_context, render_context
from epistola.content.sandbox import Sandbox, render_shared
from epistola.errors import TemplateError


def test_customer_context_has_exactly_the_schema_fields_in_order() -> None:
    assert list(customer_context({})) == [*CUSTOMER_FIELDS, "full_name"]


@pytest.mark.parametrize(
    ("first", "last"),
    [("Anna", "Smith"), ("Anna", None), (None, "Smith"), ("", "Smith"), ("Anna", ""), (None, None), ("", "")],
)
def test_full_name_is_the_join_of_the_names_present(first: str | None, last: str | None) -> None:
    expected = " ".join(p for p in (first, last) if p) or None
    assert customer_context({"first_name": first, "last_name": last})["full_name"] == expected


def test_render_context_without_links_has_every_link_and_its_own_dicts() -> None:
    one = render_context({"id": 1}, today=date(2026, 3, 8))
    two = render_context({"id": 2}, today=date(2026, 3, 8))
    assert one["links"] == dict.fromkeys(LINK_NAMES)
    assert one["links"] is not two["links"]
    assert one["campaign"] == {"id": None, "name": None}
    with pytest.raises(TemplateError, match="unknown links"):
        render_context({"id": 1}, today=date(2026, 3, 8), links={"nope": "https://x.example"})


@pytest.mark.parametrize(
    "source",
    [
        "{{ d.city }}",
        "{{ d.items }}",  # a dict method, not the key
        "{{ d.get('city') }}",
        "{{ d.attributes.size }}",
        "{{ d.missing }}",
        "{{ d.pop }}",  # mutating: refused by the immutable sandbox
        "{{ d.__class__ }}",
    ],
)
def test_dict_attributes_resolve_as_in_the_plain_sandbox(source: str) -> None:
    ctx: dict[str, Any] = {"d": {"city": "Leeds", "items": "key", "attributes": {"size": 3}}}

    def outcome(env: ImmutableSandboxedEnvironment) -> str:
        try:
            return render_shared(env.from_string(source), ctx)
        except Exception as exc:  # the kind of failure must match too
            return type(exc).__name__

    plain = ImmutableSandboxedEnvironment(undefined=Sandbox(autoescape=False).undefined)
    assert outcome(Sandbox(autoescape=False)) == outcome(plain)


@pytest.mark.parametrize("value", ["autumn-2026", "a/b_c.d~e", "", "a b", "ä", "x?y=1&z", "100%", 42, None])
def test_urlencode_filter_matches_jinja(value: object) -> None:
    assert Sandbox(autoescape=False).filters["urlencode"](value) == do_urlencode(value)  # type: ignore[arg-type]
