"""Localisation for designs: dates, numbers, money and plural forms through Babel, and a greeting that
agrees with the customer's gender.

Everything here is pure and keyed by the customer's locale (``en``, ``ru``, ``pl``; anything else falls
back to English). The template filters (`FILTERS`) read the locale from the render context, so an author
writes ``{{ points|plural(one="# балл", few="# балла", many="# баллов", other="# балла") }}`` once and each
customer gets the form their language needs: Russian and Polish have three forms for whole numbers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.numbers import format_currency, format_decimal, format_percent
from jinja2 import pass_context
from jinja2.runtime import Context

from epistola.errors import TemplateError

LOCALES = ("en", "ru", "pl")
DEFAULT_LOCALE = "en"
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
DATE_FORMATS = ("short", "medium", "long", "full")


_LANGUAGES: dict[object, str] = {}


def language(locale: object) -> str:
    """The supported language of a locale value (``ru-RU`` -> ``ru``); unknown or empty -> English."""
    known = _LANGUAGES.get(locale) if isinstance(locale, str | None) else None
    if known is not None:
        return known
    lang = str(locale or "").replace("_", "-").split("-")[0].lower()
    lang = lang if lang in LOCALES else DEFAULT_LOCALE
    if isinstance(locale, str | None) and len(_LANGUAGES) < 1024:
        _LANGUAGES[locale] = lang
    return lang


@functools.cache
def babel_locale(lang: str) -> Locale:
    return Locale.parse(language(lang))


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise TemplateError(f"|date needs a date (YYYY-MM-DD), not {str(value)[:40]!r}") from None


def _as_number(value: object, what: str) -> Decimal | int:
    if isinstance(value, bool):
        raise TemplateError(f"{what} needs a number, not a yes/no value")
    if isinstance(value, int):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise TemplateError(f"{what} needs a number, not {str(value)[:40]!r}") from None


# Formatting through Babel costs tens of microseconds; the same few values (today, a discount, a price)
# recur in every message of a campaign, so results are memoised.
_memo = functools.lru_cache(maxsize=8192)


def format_date(value: object, lang: str, style: str = "long") -> str:
    """``8 марта 2026 г.``, ``8 marca 2026``, ``March 8, 2026``; `style` is a Babel style or a pattern."""
    return _format_date(_as_date(value), language(lang), style)


@_memo
def _format_date(value: date, lang: str, style: str) -> str:
    return str(_babel_date(value, format=style, locale=babel_locale(lang)))


def format_number(value: object, lang: str, digits: int | None = None) -> str:
    return _format_number(_as_number(value, "|number"), language(lang), digits)


@_memo
def _format_number(number: Decimal | int, lang: str, digits: int | None) -> str:
    if digits is not None:
        number = Decimal(number).quantize(Decimal(1).scaleb(-digits))
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return str(format_decimal(number, format=pattern, locale=babel_locale(lang)))
    return str(format_decimal(number, locale=babel_locale(lang)))


def format_money(value: object, currency: str, lang: str) -> str:
    """``1 234,50 ₽`` (ru), ``1 234,50 zł`` (pl), ``£1,234.50`` (en)."""
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise TemplateError(f"|money needs a three-letter currency code, not {currency!r}")
    return _format_money(_as_number(value, "|money"), currency.upper(), language(lang))


@_memo
def _format_money(number: Decimal | int, currency: str, lang: str) -> str:
    return str(format_currency(number, currency, locale=babel_locale(lang)))


def format_percentage(value: object, lang: str) -> str:
    """A share (0.15) as a percentage in the customer's notation (``15 %`` in Polish and Russian)."""
    return str(format_percent(_as_number(value, "|percent"), locale=babel_locale(lang)))


def plural_category(count: object, lang: str) -> str:
    """The CLDR plural category of `count` in `lang`: ru 1 -> one, 3 -> few, 5 -> many, 1.5 -> other."""
    return _plural_category(_as_number(count, "|plural"), language(lang))


@_memo
def _plural_category(number: Decimal | int, lang: str) -> str:
    return str(babel_locale(lang).plural_form(number))


def plural(count: object, lang: str, forms: Mapping[str, str]) -> str:
    """The form for `count` with ``#`` replaced by the localised number; `other` is the fallback form."""
    unknown = sorted(set(forms) - set(PLURAL_CATEGORIES))
    if unknown:
        raise TemplateError(f"|plural knows the forms {', '.join(PLURAL_CATEGORIES)}, not {', '.join(unknown)}")
    if "other" not in forms:
        raise TemplateError("|plural needs an `other` form as the fallback")
    form = forms.get(plural_category(count, lang), forms["other"])
    return form.replace("#", format_number(count, lang)) if "#" in form else form


# --- greetings -------------------------------------------------------------------------------------------

_GREETINGS: dict[str, dict[str, str]] = {
    # {title}: honorific + surname where the language addresses people by surname
    "en": {
        "m": "Dear Mr {last},",
        "f": "Dear Ms {last},",
        "named": "Dear {first},",
        "neutral": "Hello,",
    },
    # Russian formal address: first name and patronymic when known, adjective agrees with gender.
    "ru": {
        "m": "Уважаемый {first_middle}!",
        "f": "Уважаемая {first_middle}!",
        "named": "Здравствуйте, {first}!",
        "neutral": "Здравствуйте!",
    },
    # Polish formal address uses the honorific alone; the name would need the vocative case.
    "pl": {
        "m": "Szanowny Panie,",
        "f": "Szanowna Pani,",
        "named": "Dzień dobry,",
        "neutral": "Dzień dobry,",
    },
}


def greeting(
    lang: str,
    *,
    gender: str | None,
    first_name: str | None,
    last_name: str | None,
    middle_name: str | None = None,
) -> str:
    """The salutation for a letter or e-mail, agreeing with the customer's gender (``m``/``f``); anyone
    else (``x``, unknown, or a name the form needs missing) gets a neutral one."""
    lang = language(lang)
    table = _GREETINGS[lang]
    first = (first_name or "").strip()
    last = (last_name or "").strip()
    middle = (middle_name or "").strip()
    if gender in ("m", "f"):
        if lang == "en" and last:
            return table[gender].format(last=last)
        if lang == "ru" and first:
            return table[gender].format(first_middle=f"{first} {middle}".strip())
        if lang == "pl":
            return table[gender]
    if first:
        return table["named"].format(first=first)
    return table["neutral"]


# --- Jinja filters: the locale comes from the render context --------------------------------------------


def context_language(ctx: Context | Mapping[str, Any]) -> str:
    customer = ctx.get("customer")
    return language(customer.get("locale") if isinstance(customer, Mapping) else None)


@pass_context
def _date_filter(ctx: Context, value: object, style: str = "long") -> str:
    return format_date(value, context_language(ctx), style)


@pass_context
def _number_filter(ctx: Context, value: object, digits: int | None = None) -> str:
    return format_number(value, context_language(ctx), digits)


@pass_context
def _money_filter(ctx: Context, value: object, currency: str) -> str:
    return format_money(value, currency, context_language(ctx))


@pass_context
def _percent_filter(ctx: Context, value: object) -> str:
    return format_percentage(value, context_language(ctx))


@pass_context
def _plural_filter(ctx: Context, value: object, **forms: str) -> str:
    return plural(value, context_language(ctx), forms)


FILTERS: dict[str, Any] = {
    "date": _date_filter,
    "number": _number_filter,
    "money": _money_filter,
    "percent": _percent_filter,
    "plural": _plural_filter,
}
