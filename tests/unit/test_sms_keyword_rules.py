"""SMS keywords in three languages: what counts as STOP, START and HELP, and what does not."""

from __future__ import annotations

import pytest

from epistola.consent.sms_keywords import classify
from epistola.consent.texts import SMS_REPLIES


@pytest.mark.parametrize(
    ("text", "keyword", "language"),
    [
        ("STOP", "stop", None),
        ("stop", "stop", None),
        (" Stop! ", "stop", None),
        ("UNSUBSCRIBE", "stop", None),
        ("End", "stop", None),
        ("QUIT", "stop", None),
        ("cancel", "stop", None),
        ("OPTOUT", "stop", None),
        ("opt-out", "stop", None),
        ("OPT OUT", "stop", None),
        ("REVOKE", "stop", "en"),
        ("STOPALL", "stop", None),
        ("СТОП", "stop", "ru"),
        ("стоп", "stop", "ru"),
        ("Отписаться", "stop", "ru"),
        ("ОТПИСКА", "stop", "ru"),
        ("отмена", "stop", "ru"),
        ("Отказ", "stop", "ru"),
        ("WYPISZ", "stop", "pl"),
        ("rezygnuję", "stop", "pl"),
        ("REZYGNUJE", "stop", "pl"),  # typed without the ogonek
        ("Rezygnacja", "stop", "pl"),
        ("koniec", "stop", "pl"),
        ("ANULUJ", "stop", "pl"),
        ("STOP please", "stop", None),  # opting out is heard at the start of a short message
        ("Отписка от рассылки", "stop", "ru"),
        ("START", "start", None),
        ("unstop", "start", None),
        ("СТАРТ", "start", "ru"),
        ("подписаться", "start", "ru"),
        ("ZAPISZ", "start", "pl"),
        ("HELP", "help", "en"),
        ("info", "help", "en"),
        ("ПОМОЩЬ", "help", "ru"),
        ("справка", "help", "ru"),
        ("POMOC", "help", "pl"),
    ],
)
def test_keywords(text: str, keyword: str, language: str | None) -> None:
    match = classify(text)
    assert match is not None and (match.keyword, match.language) == (keyword, language)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Thanks!",
        "start the engine please",  # a restart must be the whole message
        "Start tomorrow",
        "Don't stop",
        "I will stop by the shop tomorrow morning",
        "stopwatch",
        "СТОПКА",
        "halt",
    ],
)
def test_not_keywords(text: str) -> None:
    assert classify(text) is None


@pytest.mark.parametrize("language", ["en", "ru", "pl"])
def test_every_reply_exists_names_the_keywords_and_fits_few_parts(language: str) -> None:
    replies = SMS_REPLIES[language]
    assert set(replies) == {"stop", "start", "help"}
    for reply in replies.values():
        assert len(reply) <= 160 if reply.isascii() else len(reply) <= 140
    assert any(w in replies["stop"] for w in ("START", "СТАРТ"))
