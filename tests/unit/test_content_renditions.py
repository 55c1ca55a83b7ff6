"""The outputs, looked at: the demo's designs rendered for the sample customers in every channel. HTML is
parsed strictly (html5lib), letters are typeset, rendered to PNG and read back as text (pypdf), SMS are
counted, and Russian and Polish get their own greetings and plural forms."""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from importlib import resources
from typing import Any

import html5lib
import pytest
import yaml
from pdf_pictures import page_pngs
from pypdf import PdfReader

from epistola.content.context import render_context
from epistola.content.design import parse_design
from epistola.content.mime import MailParts, build_message
from epistola.content.renditions import CompiledDesign
from epistola.content.samples import SAMPLE_AGENT, SAMPLE_CUSTOMERS, SAMPLE_DOCUMENT, SAMPLE_LINKS

DESIGNS = ("new-collection", "birthday", "statement")
_compiled: dict[str, CompiledDesign] = {}


def design(name: str) -> CompiledDesign:
    if name not in _compiled:
        text = resources.files("epistola.demo_content").joinpath(f"{name}.yaml").read_text(encoding="utf-8")
        _compiled[name] = CompiledDesign(parse_design(yaml.safe_load(text), name=name, version=1))
    return _compiled[name]


def context(person: Mapping[str, Any], *, document: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return render_context(
        person,
        today=date(2026, 3, 8),
        campaign={"id": 3, "name": "autumn"},
        message_id=int(person["id"]),
        links=SAMPLE_LINKS,
        agent=SAMPLE_AGENT,
        document=document,
        **kw,
    )


def strict_html(page: str) -> None:
    html5lib.HTMLParser(strict=True).parse(page)


def pdf_text(pdf: bytes, first: int, last: int) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(reader.pages[n - 1].extract_text() for n in range(first, last + 1))


@pytest.mark.parametrize("name", DESIGNS)
def test_every_channel_for_every_sample_customer(name: str) -> None:
    compiled = design(name)
    document = SAMPLE_DOCUMENT if compiled.design.layout == "statement" else None
    contexts = [context(p, document=document) for p in SAMPLE_CUSTOMERS]
    for ctx in contexts:
        email = compiled.email(ctx)
        strict_html(email.html)
        strict_html(compiled.web(ctx))
        assert email.subject and email.text.strip()
        if "sms" in compiled.channels:
            sms = compiled.sms(ctx, lambda _url: "https://epistola.example/t/c/" + "x" * 24)
            assert 1 <= sms.segments <= compiled.design.sms_max_segments
            assert sms.encoding == ("gsm7" if ctx["customer"]["locale"] == "en" else "ucs2")
    files = compiled.letters(contexts)
    assert {f.paper for f in files} == {"a4", "letter"}  # the US sample customer gets US Letter
    by_id = {str(c["message"]["id"]): c for c in contexts}
    for file in files:
        pictures = page_pngs(file.pdf, scale=0.5)
        assert len(pictures) == file.pages and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pictures)
        width = float(PdfReader(io.BytesIO(file.pdf)).pages[0].mediabox.width)
        assert round(width) == (612 if file.paper == "letter" else 595)
        for entry in file.index:
            person = by_id[entry.id]["customer"]
            text = pdf_text(file.pdf, entry.first_page, entry.last_page)
            if person["last_name"]:
                assert person["last_name"] in text, (name, entry.id)


@pytest.mark.parametrize(
    ("person_id", "greeting"),
    [
        (900005, "Уважаемый Константин Вячеславович!"),
        (900006, "Уважаемая Анна Сергеевна!"),
        (900007, "Szanowna Pani,"),
        (900008, "Szanowny Panie,"),
        (900001, "Dear Mr Whitfield,"),
        (900003, "Dear Alex,"),
        (900004, "Hello,"),
    ],
)
def test_birthday_greets_by_gender_in_every_channel(person_id: int, greeting: str) -> None:
    person = next(p for p in SAMPLE_CUSTOMERS if p["id"] == person_id)
    compiled = design("birthday")
    ctx = context(person)
    email = compiled.email(ctx)
    assert greeting in email.text and greeting in compiled.web(ctx)
    [file] = compiled.letters([ctx])
    assert greeting in " ".join(pdf_text(file.pdf, 1, file.pages).split())
    assert SAMPLE_AGENT["name"] in email.text  # the customer's own adviser is named
    assert SAMPLE_LINKS["purl"] in email.html  # and their personal page is linked


def _statement(lines: int) -> dict[str, Any]:
    rows = [{"date": date(2026, 3, 1 + n), "description": f"Item {n}", "amount": 10} for n in range(lines)]
    return {**SAMPLE_DOCUMENT, "lines": rows, "total": 10 * lines}


@pytest.mark.parametrize(
    ("person_id", "lines", "phrase"),
    [
        (900006, 1, "1 покупка"),
        (900006, 3, "3 покупки"),
        (900006, 5, "5 покупок"),
        (900006, 21, "21 покупка"),
        (900007, 1, "1 zakup"),
        (900007, 4, "4 zakupy"),
        (900007, 5, "5 zakupów"),
        (900007, 22, "22 zakupy"),
        (900001, 1, "1 purchase,"),
        (900001, 2, "2 purchases"),
    ],
)
def test_statement_plural_forms(person_id: int, lines: int, phrase: str) -> None:
    person = next(p for p in SAMPLE_CUSTOMERS if p["id"] == person_id)
    ctx = context(person, document=_statement(lines))
    email = design("statement").email(ctx)
    assert phrase in email.text
    assert email.html.count("Item ") == lines  # the transactions table, one row each


def test_statement_offer_follows_the_segment() -> None:
    person = SAMPLE_CUSTOMERS[0]
    plain = design("statement").email(context(person, document=SAMPLE_DOCUMENT))
    business = design("statement").email(context(person, document=SAMPLE_DOCUMENT, segments=("business-clothes",)))
    assert "accessories" in plain.text and "second shirt at half price" in business.text


def test_a_long_letter_numbers_its_own_pages() -> None:
    body = "{{ greeting }}\n\n" + "\n\n".join(f"Paragraph {n}: " + "words " * 60 for n in range(30))
    compiled = CompiledDesign(parse_design({"subject": "s", "body": body}, name="long", version=1))
    people = [SAMPLE_CUSTOMERS[0], SAMPLE_CUSTOMERS[6], SAMPLE_CUSTOMERS[0]]
    [file] = compiled.letters([context(p) for p in people[:2]] + [context(people[2])])
    first, second, third = file.index
    assert first.pages >= 2 and second.first_page == first.last_page + 1 and third.first_page == second.last_page + 1
    assert f"Page 1 of {first.pages}" in pdf_text(file.pdf, first.first_page, first.first_page)
    assert f"Strona {second.pages} z {second.pages}" in pdf_text(file.pdf, second.last_page, second.last_page)


def test_mime_of_a_rendered_email_round_trips() -> None:
    ctx = context(SAMPLE_CUSTOMERS[4])
    email = design("new-collection").email(ctx, lambda url: "https://t.example/c/" + str(abs(hash(url)) % 10**6))
    data = build_message(
        MailParts(
            sender="Epistola Demo <news@epistola.example>",
            recipient="k@example.ru",
            recipient_name=ctx["customer"]["full_name"],
            subject=email.subject,
            text=email.text,
            html=email.html,
            html_pieces=email.html_pieces,
            message_id="1.x@epistola.example",
            date=datetime(2026, 3, 8, tzinfo=UTC),
        )
    )
    assert all(len(line) <= 78 for line in data.split(b"\r\n"))
    msg = message_from_bytes(data, policy=policy.default)
    assert msg["Subject"] == email.subject and not msg.defects
    assert msg.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n") == email.html
    assert msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n") == email.text
