"""The locked brand: name, colours, legal texts and the layouts' own words, per language.

Business users edit a design's slots; they cannot reach anything here. Every rendition (e-mail, web page,
print, SMS sender) takes its brand from one `Brand`, so the logo bar, the colours and the legal footer
are the same in every channel and cannot be edited away in a template.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from epistola.content.l10n import language
from epistola.errors import ConfigError

_COLOUR = re.compile(r"#[0-9a-fA-F]{6}")

LEGAL = {
    "en": "You receive this e-mail because you agreed to hear from us. Epistola Demo Ltd, 1 Example Street, London.",
    "ru": "Вы получили это письмо, потому что согласились получать наши новости. ООО «Эпистола Демо», Москва.",
    "pl": "Otrzymujesz tę wiadomość, ponieważ wyraziłeś zgodę na kontakt. Epistola Demo Sp. z o.o., Warszawa.",
}
COMPANY = {
    "en": "Epistola Demo Ltd · Registered in England and Wales No. 01234567 · 1 Example Street, London EC1A 1AA",
    "ru": "ООО «Эпистола Демо» · ОГРН 1234567890123 · 125009, Москва, ул. Примерная, д. 1",
    "pl": "Epistola Demo Sp. z o.o. · KRS 0000123456 · ul. Przykładowa 1, 00-001 Warszawa",
}

# The words a layout itself prints (not the author's): per language, with {placeholders}.
LABELS: dict[str, dict[str, str]] = {
    "en": {
        "preferences": "Manage your preferences",
        "unsubscribe": "Unsubscribe",
        "view_online": "View this message in your browser",
        "page": "Page {page} of {pages}",
        "date": "Date",
        "description": "Description",
        "amount": "Amount",
        "total": "Total",
        "statement": "Statement",
        "number": "No.",
        "period": "Period",
        "offer": "For you",
    },
    "ru": {
        "preferences": "Настроить рассылки",
        "unsubscribe": "Отписаться",
        "view_online": "Открыть письмо в браузере",
        "page": "Стр. {page} из {pages}",
        "date": "Дата",
        "description": "Описание",
        "amount": "Сумма",
        "total": "Итого",
        "statement": "Выписка",
        "number": "№",
        "period": "Период",
        "offer": "Для вас",
    },
    "pl": {
        "preferences": "Zarządzaj preferencjami",
        "unsubscribe": "Wypisz się",
        "view_online": "Otwórz wiadomość w przeglądarce",
        "page": "Strona {page} z {pages}",
        "date": "Data",
        "description": "Opis",
        "amount": "Kwota",
        "total": "Razem",
        "statement": "Wyciąg",
        "number": "Nr",
        "period": "Okres",
        "offer": "Dla Ciebie",
    },
}


@dataclass(frozen=True, kw_only=True)
class Brand:
    """The locked part of every message: business users cannot change it from a template."""

    name: str = "Epistola Demo"
    colour: str = "#4f46e5"
    text_colour: str = "#1f2937"
    muted_colour: str = "#6b7280"
    background: str = "#f3f4f6"
    tint: str = "#eef2ff"  # the offer box
    website: str = "https://shop.epistola.example"
    phone: str = "+44 20 7946 0000"
    sender_line: str = "Epistola Demo Ltd · 1 Example Street · London EC1A 1AA"  # return address, print window
    sms_sender: str = "Epistola"
    # Left out of the hash (mappings are not hashable), so a brand can key a cache; equality still sees them.
    legal: Mapping[str, str] = field(default_factory=lambda: LEGAL, hash=False)
    company: Mapping[str, str] = field(default_factory=lambda: COMPANY, hash=False)

    def __post_init__(self) -> None:
        for name in ("colour", "text_colour", "muted_colour", "background", "tint"):
            if not _COLOUR.fullmatch(getattr(self, name)):
                raise ConfigError(f"brand {name} must be a colour like #4f46e5, not {getattr(self, name)!r}")
        if "en" not in self.legal or "en" not in self.company:
            raise ConfigError("a brand needs English legal and company texts as the fallback")

    def for_locale(self, locale: object) -> dict[str, Any]:
        """What layouts and templates see as `brand`, in the customer's language."""
        lang = language(locale)
        return {
            "name": self.name,
            "colour": self.colour,
            "text_colour": self.text_colour,
            "muted_colour": self.muted_colour,
            "background": self.background,
            "tint": self.tint,
            "website": self.website,
            "phone": self.phone,
            "sender_line": self.sender_line,
            "legal": self.legal.get(lang, self.legal["en"]),
            "company": self.company.get(lang, self.company["en"]),
            "lang": lang,
            "labels": LABELS[lang],
            "preferences_label": LABELS[lang]["preferences"],
        }
