"""Designs: parsing with path-named errors, variant choice, snippets, and the compile rules of content
blocks (Markdown compiled once, values substituted per customer)."""

from __future__ import annotations

from datetime import date

import pytest

from epistola.content.blocks import Codes, render_block
from epistola.content.context import render_context
from epistola.content.design import expand_snippets, parse_design
from epistola.content.renditions import CompiledDesign
from epistola.errors import InputError, TemplateError


def _ctx(**customer: object) -> dict[str, object]:
    person = {"id": 5, "first_name": "Ann", "last_name": "Lee", "locale": "en", "attributes": {}, **customer}
    return render_context(person, today=date(2026, 3, 8), campaign={"id": 1, "name": "spring sale"}, message_id=9)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"subject": "x", "body": "y", "colour": "red"}, "colour"),
        ({"subject": "x", "body": "y", "layout": "poster"}, "layout"),
        ({"subject": "x", "body": "y", "paper": "a3"}, "paper"),
        ({"subject": "x", "body": "y", "sms_max_segments": 0}, "sms_max_segments"),
        ({"subject": "x", "body": "y", "channels": ["email", "fax"]}, "channels"),
        ({"subject": "x", "body": "y", "channels": ["sms"]}, "channels"),
        (
            {"subject": "x", "body": "y", "variants": [{"name": "a", "when": {"locale": "de"}}]},
            "variants[0].when.locale",
        ),
        (
            {"subject": "x", "body": "y", "variants": [{"name": "a", "when": {"weather": "rain"}}]},
            "variants[0].when.weather",
        ),
        ({"subject": "x", "body": "y", "variants": [{"name": "a"}]}, "variants[0].when"),
        (
            {"subject": "x", "body": "y", "variants": [{"name": "a", "when": {"ab": "B"}, "footer": "z"}]},
            "variants[0].footer",
        ),
        ({"subject": ["x"], "body": "y"}, "subject"),
    ],
)
def test_bad_designs_name_the_field(data: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_design(data, name="d", version=1)
    assert field in [p.field for p in caught.value.problems]


def test_channels_follow_the_slots() -> None:
    assert parse_design({"subject": "s", "body": "b"}, name="d").channels == ("email", "print", "web")
    assert parse_design({"sms": "hi"}, name="d").channels == ("sms",)
    both = parse_design({"subject": "s", "body": "b", "sms": "hi", "channels": ["email", "sms"]}, name="d")
    assert both.channels == ("email", "sms")


def test_the_first_matching_variant_wins_and_fills_from_the_default() -> None:
    design = parse_design(
        {
            "subject": "Hello",
            "body": "Default body",
            "variants": [
                {"name": "vip-ru", "when": {"locale": "ru", "segment": "vip"}, "subject": "VIP привет"},
                {"name": "ru", "when": {"locale": ["ru"]}, "subject": "Привет", "body": "Текст"},
                {"name": "b", "when": {"ab": "B"}, "subject": "Hi (B)"},
            ],
        },
        name="d",
        version=1,
    )
    assert design.choose(locale="ru", segments=frozenset({"vip"})).name == "vip-ru"
    assert design.choose(locale="ru", segments=frozenset({"vip"})).slots.body == "Default body"
    assert design.choose(locale="ru-RU").slots.body == "Текст"
    assert design.choose(locale="en", ab="B").slots.subject == "Hi (B)"
    assert design.choose(locale="pl").name == "default"
    assert parse_design(design.to_dict(), name="d", version=1) == design


def test_snippets_are_included_by_name_and_unknown_ones_name_the_line() -> None:
    snippets = {"sign": "Kind regards,\n{% include 'team' %}", "team": "The {{ brand.name }} team"}
    assert (
        expand_snippets("Hi\n{% include 'sign' %}", snippets, name="body")
        == "Hi\nKind regards,\nThe {{ brand.name }} team"
    )
    with pytest.raises(TemplateError) as caught:
        expand_snippets('Hi\n\n{% include "signature" %}', snippets, name="body")
    assert caught.value.problems[0].row == 3 and "signature" in caught.value.problems[0].message


def test_markdown_is_compiled_once_and_values_stay_text_in_every_target() -> None:
    source = (
        "# Hello {{ customer.first_name }}\n\n"
        "*{{ customer.last_name }}* [shop](https://s.example/x?c={{ campaign.name }})\n"
    )
    codes = Codes()
    marked = render_block(source, codes, name="body")
    assert "customer.first_name" not in marked.html and "<h1>" in marked.html  # placeholders, not code
    design = CompiledDesign(parse_design({"subject": "s", "body": source}, name="d", version=1))
    ctx = _ctx(first_name="<b>Ann</b> #[x]", last_name='Lee"]; #panic("x")')
    email = design.email(ctx)
    assert "&lt;b&gt;Ann&lt;/b&gt; #[x]" in email.html and "<b>Ann</b>" not in email.html
    assert 'href="https://s.example/x?c=spring%20sale"' in email.html
    assert "(https://s.example/x?c=spring%20sale)" in email.text
    letter = design.letter(ctx)
    assert '#"<b>Ann</b> #[x]";' in letter and '#"Lee\\"]; #panic(\\"x\\")";' in letter


def test_block_and_inline_conditions() -> None:
    source = (
        "{% if customer.city %}\n"
        "# In {{ customer.city }}\n"
        "{% else %}\n"
        "# Online\n"
        "{% endif %}\n\n"
        "Shop{% if customer.city %} in {{ customer.city }} and{% endif %} online.\n"
    )
    design = CompiledDesign(parse_design({"subject": "s", "body": source}, name="d", version=1))
    with_city = design.email(_ctx(city="Łódź"))
    assert ">In Łódź</h1>" in with_city.html and "Online" not in with_city.html
    assert "Shop in Łódź and online." in with_city.html
    without = design.email(_ctx(city=None))
    assert ">Online</h1>" in without.html and "Shop online." in without.text


def test_a_condition_inside_a_link_target_is_refused_with_its_line() -> None:
    source = "Hello\n\n[shop](https://s.example/{% if customer.city %}local{% endif %})\n"
    design = CompiledDesign(parse_design({"subject": "s", "body": source}, name="d", version=1))
    with pytest.raises(TemplateError) as caught:
        design.email(_ctx())
    assert caught.value.problems[0].row == 3


def test_a_value_that_is_the_whole_link_target_must_be_a_safe_url() -> None:
    design = CompiledDesign(parse_design({"subject": "s", "body": "[open]({{ links.purl }})"}, name="d", version=1))
    ok = render_context({"id": 1, "locale": "en"}, today=date(2026, 1, 1), links={"purl": "https://p.example/p/abc"})
    assert 'href="https://p.example/p/abc"' in design.email(ok).html
    evil = render_context({"id": 1, "locale": "en"}, today=date(2026, 1, 1), links={"purl": "javascript:alert(1)"})
    with pytest.raises(TemplateError, match="not an absolute"):
        design.email(evil)


def test_the_same_target_gets_the_same_tracking_link_in_html_and_text() -> None:
    body = "[a](https://s.example/a) [b](https://s.example/b) [a again](https://s.example/a) [mail](mailto:x@y.example)"
    design = CompiledDesign(parse_design({"subject": "s", "body": body}, name="d", version=1))
    minted: list[str] = []

    def track(url: str) -> str:
        minted.append(url)
        return f"https://t.example/{len(minted)}"

    email = design.email(_ctx(), track)
    assert minted == ["https://s.example/a", "https://s.example/b"]  # mailto: is not tracked
    assert email.urls == ("https://s.example/a", "https://s.example/b", "mailto:x@y.example")
    assert email.html.count('href="https://t.example/1"') == 2 and "(https://t.example/1)" in email.text
    assert 'href="mailto:x@y.example"' in email.html
