"""Validation on save: every problem comes back with its slot, its line and the reason, and nothing that
fails here can be stored (the store refuses it before writing, see the integration tests)."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml

from epistola.content.design import parse_design
from epistola.content.validate import validate_design
from epistola.errors import TemplateError


def problems(data: dict[str, object]) -> list[tuple[str | None, int | None, str]]:
    with pytest.raises(TemplateError) as caught:
        validate_design(parse_design(data, name="d", version=1))
    return [(p.file, p.row, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("name", ["new-collection", "birthday", "statement"])
def test_the_demo_designs_pass(name: str) -> None:
    text = resources.files("epistola.demo_content").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
    validate_design(parse_design(yaml.safe_load(text), name=name, version=1))


def test_unknown_variables_and_fields_name_slot_and_line() -> None:
    found = problems({"subject": "Hi", "body": "Hello\n\n{{ custmer.first_name }}\n{{ customer.shoe_size }}"})
    assert ("body", 3, "unknown variable") in [(f, r, m.split(";")[0][:16]) for f, r, m in found]
    assert any(f == "body" and r == 4 and "customer.shoe_size does not exist" in m for f, r, m in found)


def test_values_that_may_be_empty_need_a_fallback() -> None:
    found = problems(
        {
            "subject": "{{ customer.first_name }}, hello",
            "body": "{% if customer.city %}{{ customer.city }}{% endif %}\n\n{{ customer.city }}\n\n"
            "{{ customer.last_name or 'friend' }} {{ customer.attributes.tier }}",
        }
    )
    assert [(f, r) for f, r, m in found if "may be empty" in m] == [("subject", 1), ("body", 3), ("body", 5)]


def test_malformed_links_are_refused_with_their_lines() -> None:
    found = problems(
        {
            "subject": "Hi",
            "body": "[ok](https://shop.example/a?c={{ campaign.name }})\n\n[relative](www.shop.example)\n\n"
            "[script](javascript:alert(1))\n\n[spaced](https://shop.example/a b)\n\n[open](https://x.example",
            "variants": [{"name": "ru", "when": {"locale": "ru"}, "body": "[ftp](ftp://files.example/x)"}],
        }
    )
    rows = sorted((f, r) for f, r, _m in found)
    assert rows == [("body", 3), ("body", 5), ("body", 7), ("body", 9), ("variants.ru.body", 1)]


def test_an_sms_too_long_for_the_design_names_the_customer_it_was_too_long_for() -> None:
    found = problems(
        {
            "sms": "{{ greeting }} " + "Our autumn collection is here. " * 4 + "https://shop.example/autumn",
            "sms_max_segments": 1,
            "variants": [{"name": "ru", "when": {"locale": "ru"}, "sms": "{{ greeting }} Осенняя коллекция!"}],
        }
    )
    assert found and all(f == "sms" and "segments" in m and "the design allows 1" in m for f, _r, m in found)
    assert any("en" in m for _f, _r, m in found)
    cyrillic = problems({"sms": "{{ greeting }} " + "Осенняя коллекция уже здесь. " * 3, "sms_max_segments": 1})
    assert any("ucs2" in m for _f, _r, m in cyrillic)


def test_sms_links_must_be_absolute() -> None:
    found = problems({"sms": "Sale at www.shop.example today"})
    assert found == [("sms", 1, "a link must start with https:// to be shortened and tracked")]


@pytest.mark.parametrize(
    "payload",
    [
        "{{ customer.__class__.__mro__ }}",
        "{{ customer|attr('__class__') }}",
        "{{ 'x'.format_map(customer) }}",
        "{{ lipsum.__globals__.os.environ }}",
        "{% import 'os' as os %}",
        "{% macro m() %}{% endmacro %}",
        "a \x07 bell",
        "reserved Zq1qZ marker",
    ],
)
def test_sandbox_escapes_and_unsupported_constructs_are_refused(payload: str) -> None:
    found = problems({"subject": "Hi", "body": f"Line one\n{payload}"})
    assert any(f == "body" and r == 2 for f, r, _m in found), found
