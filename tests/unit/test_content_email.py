"""Designs render safely: sandbox escapes fail, customer data never becomes markup, MIME parses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from email import message_from_bytes, policy

import html5lib
import pytest

from epistola.content.context import render_context
from epistola.content.design import parse_design
from epistola.content.mime import MailParts, build_message
from epistola.content.renditions import CompiledDesign
from epistola.content.sandbox import check_template
from epistola.errors import TemplateError

# Known ways out of a Jinja sandbox; each must fail on save, and anything that got past the static check
# must still fail when rendered.
ESCAPES = [
    "{{ customer.__class__ }}",
    "{{ customer.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ customer['__class__'] }}",
    "{{ customer|attr('__class__') }}",
    "{{ '{0.__class__}'.format(customer) }}",
    "{{ 'x'.format_map(customer) }}",
    "{{ cycler.__init__.__globals__.os.environ }}",
    "{{ lipsum.__globals__['os'].environ }}",
    "{{ self._TemplateReference__context }}",
    "{{ config.items() }}",
    "{{ request.environ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{% for k in range(10**10) %}{% endfor %}",
    "{{ customer.attributes.__class__.__base__.__subclasses__() }}",
    "{% set x = customer.attributes.update({'a': 1}) %}",
    "{{ ().__class__.__bases__[0] }}",
    "{% include '/etc/passwd' %}",
]


def _context(**customer: object) -> dict[str, object]:
    person = {"id": 1, "first_name": "A", "locale": "en", "attributes": {}, **customer}
    return render_context(person, today=date(2026, 3, 8), campaign={"id": 1, "name": "c"}, message_id=1)


@pytest.mark.parametrize("payload", ESCAPES)
def test_known_escape_payloads_are_rejected(payload: str) -> None:
    with pytest.raises(TemplateError):
        check_template(payload, name="evil")
        design = CompiledDesign(parse_design({"subject": "x", "body": payload}, name="evil", version=1))
        design.email(_context())


def test_unknown_variables_and_syntax_errors_name_the_line() -> None:
    with pytest.raises(TemplateError) as caught:
        check_template("Hello\n{{ custmer.first_name }}", name="welcome")
    assert caught.value.problems[0].row == 2 and "custmer" in caught.value.problems[0].message
    with pytest.raises(TemplateError) as caught:
        check_template("line1\n{% if x %}", name="welcome")
    assert caught.value.problems[0].row is not None


def _render(first_name: str) -> tuple[str, str, str]:
    design = CompiledDesign(
        parse_design(
            {
                "subject": "Hi {{ customer.first_name }}",
                "body": "# Hello {{ customer.first_name }}\n\n[Shop](https://shop.example/x)\n",
            },
            name="t",
            version=1,
        )
    )
    out = design.email(_context(first_name=first_name, locale="pl"), lambda url: "https://t.example/abc")
    return out.subject, out.html, out.text


def test_customer_data_stays_text() -> None:
    _subject, html, text = _render("[x](http://evil.example) <script>alert(1)</script> **bold**")
    assert "<script>" not in html and 'href="http://evil.example"' not in html
    assert "<strong>**" not in html and "<strong>bold" not in html
    assert "&lt;script&gt;" in html
    assert "[x](http://evil.example) <script>alert(1)</script> **bold**" in text
    html5lib.HTMLParser(strict=True).parse(html)


def test_links_are_rewritten_in_html_and_text_and_brand_is_localised() -> None:
    _subject, html, text = _render("Kasia")
    assert 'href="https://t.example/abc"' in html and "https://shop.example/x" not in html
    assert "Shop (https://t.example/abc)" in text
    assert "Otrzymujesz tę wiadomość" in html  # Polish legal footer from the locked layout


def test_mime_is_valid_multipart_with_encoded_headers() -> None:
    data = build_message(
        MailParts(
            sender="Epistola Demo <news@epistola.example>",
            recipient="ivan@mail.ru",
            recipient_name="Иван Петров",
            subject="Привет, Иван — осень!",
            text="Здравствуйте!\n" + "длинная строка " * 20,
            html="<p>Здравствуйте=</p>",
            message_id="1.abc@epistola.example",
            date=datetime(2026, 11, 2, tzinfo=UTC),
            headers={"List-Unsubscribe": "<https://x.example/u/1>"},
        )
    )
    assert b"\r\n\r\n" in data and all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["Subject"] == "Привет, Иван — осень!" and msg["To"].addresses[0].display_name == "Иван Петров"
    assert msg["List-Unsubscribe"] == "<https://x.example/u/1>"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg.get_body(preferencelist=("plain",)).get_content().startswith("Здравствуйте!")
    assert msg.get_body(preferencelist=("html",)).get_content().strip() == "<p>Здравствуйте=</p>"
    assert not msg.defects
