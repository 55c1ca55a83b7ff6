"""The words around a survey (buttons, notices, error messages) in every supported language.

Survey authors write the questions; these are Epistola's own strings. Kept as plain dictionaries: three
languages and a few dozen strings do not need a gettext toolchain, and a test checks that every key
exists in every language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from epistola.feedback.surveys import LOCALES, AnswerError

UI: Mapping[str, Mapping[str, str]] = {
    "en": {
        "submit": "Send my answers",
        "update": "Update my answers",
        "saved": "Thank you — your answers are saved.",
        "returning": "You answered on {date}. You can change your answers below.",
        "fix": "Please check the answers marked below.",
        "optional": "optional",
        "required": "required",
        "choose": "Choose one…",
        "hello": "Hello, {name}",
        "hello_anon": "Hello",
        "no_survey": "Thank you for reading our message.",
        "not_found_title": "Page not found",
        "not_found": "This link is not valid. Please use the link from your message.",
        "too_many_title": "Too many requests",
        "too_many": "Please wait a moment and try again.",
        "privacy": "Your answers update your customer profile. You can change them at any time from this page.",
    },
    "ru": {
        "submit": "Отправить ответы",
        "update": "Изменить ответы",
        "saved": "Спасибо! Ваши ответы сохранены.",
        "returning": "Вы ответили {date}. Ниже можно изменить ответы.",
        "fix": "Проверьте, пожалуйста, отмеченные ответы.",
        "optional": "необязательно",
        "required": "обязательно",
        "choose": "Выберите…",
        "hello": "Здравствуйте, {name}",
        "hello_anon": "Здравствуйте",
        "no_survey": "Спасибо, что прочитали наше письмо.",
        "not_found_title": "Страница не найдена",
        "not_found": "Эта ссылка недействительна. Воспользуйтесь ссылкой из письма.",
        "too_many_title": "Слишком много запросов",
        "too_many": "Подождите немного и попробуйте снова.",
        "privacy": "Ваши ответы обновляют ваш профиль клиента. Изменить их можно в любое время на этой странице.",
    },
    "pl": {
        "submit": "Wyślij odpowiedzi",
        "update": "Zmień odpowiedzi",
        "saved": "Dziękujemy — Twoje odpowiedzi zostały zapisane.",
        "returning": "Odpowiedziałeś(-aś) {date}. Poniżej możesz zmienić odpowiedzi.",
        "fix": "Sprawdź zaznaczone odpowiedzi.",
        "optional": "opcjonalnie",
        "required": "wymagane",
        "choose": "Wybierz…",
        "hello": "Dzień dobry, {name}",
        "hello_anon": "Dzień dobry",
        "no_survey": "Dziękujemy za przeczytanie naszej wiadomości.",
        "not_found_title": "Nie znaleziono strony",
        "not_found": "Ten link jest nieprawidłowy. Użyj linku z wiadomości.",
        "too_many_title": "Zbyt wiele żądań",
        "too_many": "Poczekaj chwilę i spróbuj ponownie.",
        "privacy": "Twoje odpowiedzi aktualizują Twój profil klienta. Możesz je zmienić w każdej chwili tutaj.",
    },
}

ERRORS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "required": "Please answer this question.",
        "choice": "Please choose one of the options shown.",
        "one_value": "Please give one answer.",
        "too_few": "Please choose at least {min}.",
        "too_many": "Please choose at most {max}.",
        "number": "Please enter a number.",
        "integer": "Please enter a whole number.",
        "min": "Please enter {min} or more.",
        "max": "Please enter {max} or less.",
        "date": "Please enter a valid date.",
        "min_date": "Please enter a date on or after {min}.",
        "max_date": "Please enter a date on or before {max}.",
        "too_long": "Please keep it under {max} characters.",
        "text": "Please remove special characters.",
        "unknown": "This question is not part of the survey.",
    },
    "ru": {
        "required": "Пожалуйста, ответьте на этот вопрос.",
        "choice": "Выберите один из предложенных вариантов.",
        "one_value": "Укажите один ответ.",
        "too_few": "Выберите не меньше {min}.",
        "too_many": "Выберите не больше {max}.",
        "number": "Введите число.",
        "integer": "Введите целое число.",
        "min": "Введите число не меньше {min}.",
        "max": "Введите число не больше {max}.",
        "date": "Введите правильную дату.",
        "min_date": "Введите дату не раньше {min}.",
        "max_date": "Введите дату не позже {max}.",
        "too_long": "Не больше {max} символов, пожалуйста.",
        "text": "Уберите специальные символы.",
        "unknown": "Этого вопроса нет в анкете.",
    },
    "pl": {
        "required": "Odpowiedz na to pytanie.",
        "choice": "Wybierz jedną z podanych odpowiedzi.",
        "one_value": "Podaj jedną odpowiedź.",
        "too_few": "Wybierz co najmniej {min}.",
        "too_many": "Wybierz najwyżej {max}.",
        "number": "Wpisz liczbę.",
        "integer": "Wpisz liczbę całkowitą.",
        "min": "Wpisz {min} lub więcej.",
        "max": "Wpisz {max} lub mniej.",
        "date": "Wpisz poprawną datę.",
        "min_date": "Wpisz datę nie wcześniejszą niż {min}.",
        "max_date": "Wpisz datę nie późniejszą niż {max}.",
        "too_long": "Maksymalnie {max} znaków.",
        "text": "Usuń znaki specjalne.",
        "unknown": "Tego pytania nie ma w ankiecie.",
    },
}


def lang(locale: str | None) -> str:
    """The supported language closest to `locale` (``ru-RU`` → ``ru``), else English."""
    code = (locale or "en").split("-")[0].split("_")[0].lower()
    return code if code in LOCALES else "en"


def ui_text(locale: str | None, key: str, **params: Any) -> str:
    text = UI[lang(locale)].get(key) or UI["en"][key]
    return text.format(**params) if params else text


def error_text(locale: str | None, error: AnswerError) -> str:
    text = ERRORS[lang(locale)].get(error.code) or ERRORS["en"].get(error.code) or error.code
    return text.format(**error.params) if error.params else text
