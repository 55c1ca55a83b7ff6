"""The survey rendered as HTML, localised: a block that fits in any page, and a plain page around it.

The block is what the content's web rendition of a design embeds in its slot; `render_page` is the
plain, branded page used where a step has no web rendition. Both use Jinja2 with autoescape on, so a
question, an option or a customer's earlier answer is always text, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from babel.dates import format_date
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from epistola.content.brand import Brand
from epistola.feedback.survey_texts import UI, error_text, lang, ui_text
from epistola.feedback.surveys import AnswerError, Survey, pick

_env = Environment(
    loader=PackageLoader("epistola.feedback", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _question_view(
    survey: Survey, locale: str, answers: Mapping[str, Any], errors: Mapping[str, str]
) -> list[dict[str, Any]]:
    out = []
    for q in survey.questions:
        out.append(
            {
                "id": q.id,
                "type": q.type,
                "label": pick(q.label, locale),
                "help": pick(q.help, locale) if q.help else None,
                "required": q.required,
                "options": [{"value": o.value, "label": pick(o.label, locale)} for o in q.options],
                "value": answers.get(q.id),
                "text": pick(q.text, locale) if q.text else None,
                "integer": q.integer,
                "min": q.min,
                "max": q.max,
                "min_date": q.min_date.isoformat() if q.min_date else None,
                "max_date": q.max_date.isoformat() if q.max_date else None,
                "max_length": q.max_length,
                "multiline": q.multiline,
                "error": errors.get(q.id),
            }
        )
    return out


def render_survey_block(
    survey: Survey,
    *,
    locale: str,
    action: str,
    answers: Mapping[str, Any] | None = None,
    errors: Sequence[AnswerError] = (),
    saved: bool = False,
    answered_at: datetime | None = None,
) -> Markup:
    """The survey form, prefilled with `answers`, each error next to its question, in `locale`."""
    code = lang(locale)
    messages = {e.question: error_text(code, e) for e in errors}
    returning = (
        ui_text(code, "returning", date=format_date(answered_at.date(), format="long", locale=code))
        if answered_at is not None
        else None
    )
    html = _env.get_template("survey_block.html").render(
        lang=code,
        title=pick(survey.title, code),
        intro=pick(survey.intro, code) if survey.intro else None,
        thanks=pick(survey.thanks, code) if survey.thanks else None,
        ui=UI[code],
        questions=_question_view(survey, code, answers or {}, messages),
        errors=bool(errors),
        saved=saved,
        returning=returning,
        action=action,
    )
    return Markup(html)  # noqa: S704 - rendered with autoescape on


def greeting(locale: str, first_name: str | None) -> str:
    return ui_text(locale, "hello", name=first_name) if first_name else ui_text(locale, "hello_anon")


def render_page(
    *, locale: str, title: str, greeting_text: str = "", block: Markup | None = None, message: str = ""
) -> str:
    """A complete, self-contained page (inline styles, no scripts, nothing fetched from elsewhere)."""
    code = lang(locale)
    return _env.get_template("page.html").render(
        lang=code,
        title=title,
        greeting=greeting_text,
        block=block,
        message=message,
        brand=Brand().for_locale(code),
    )


def not_found_page(locale: str = "en") -> str:
    """The one page every unknown, malformed or forged PURL gets."""
    return render_page(locale=locale, title=ui_text(locale, "not_found_title"), message=ui_text(locale, "not_found"))
