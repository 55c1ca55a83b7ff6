"""What customers read about consent, in English, Russian and Polish: the consent statements (versioned and
hashed, because the proof of a consent is the exact text that was shown), the preference-centre and
unsubscribe pages, and the SMS keyword replies.

A consent statement never changes in place: a new wording is a new version, and the ledger keeps the
version and SHA-256 of what each customer agreed to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

LANGUAGES = ("en", "ru", "pl")
CONSENT_TEXT_VERSION = "2026-11"

_STATEMENTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "email": "I agree to receive news and offers from Epistola Demo Ltd by e-mail.",
        "sms": "I agree to receive news and offers from Epistola Demo Ltd by text message.",
        "post": "I agree to receive news and offers from Epistola Demo Ltd by post.",
        "phone": "I agree to be called by Epistola Demo Ltd about news and offers.",
    },
    "ru": {
        "email": "Я согласен(на) получать новости и предложения ООО «Эпистола Демо» по электронной почте.",
        "sms": "Я согласен(на) получать новости и предложения ООО «Эпистола Демо» в SMS.",
        "post": "Я согласен(на) получать новости и предложения ООО «Эпистола Демо» по почте.",
        "phone": "Я согласен(на) на звонки ООО «Эпистола Демо» с новостями и предложениями.",
    },
    "pl": {
        "email": "Zgadzam się na otrzymywanie informacji i ofert Epistola Demo Sp. z o.o. pocztą elektroniczną.",
        "sms": "Zgadzam się na otrzymywanie informacji i ofert Epistola Demo Sp. z o.o. SMS-em.",
        "post": "Zgadzam się na otrzymywanie informacji i ofert Epistola Demo Sp. z o.o. pocztą tradycyjną.",
        "phone": "Zgadzam się na kontakt telefoniczny Epistola Demo Sp. z o.o. w sprawie informacji i ofert.",
    },
}


@dataclass(frozen=True, kw_only=True)
class Statement:
    language: str
    channel: str
    text: str
    version: str
    sha256: str

    def proof(self) -> dict[str, str]:
        """What the ledger keeps about the statement a customer saw."""
        return {"text_version": self.version, "text_hash": self.sha256, "text_language": self.language}


def language(locale: str | None) -> str:
    """en, ru or pl from a locale such as ``pl-PL`` or ``ru``; English otherwise."""
    code = (locale or "en").replace("_", "-").split("-")[0].lower()
    return code if code in LANGUAGES else "en"


def statement(channel: str, locale: str | None) -> Statement:
    lang = language(locale)
    text = _STATEMENTS[lang][channel]
    return Statement(
        language=lang,
        channel=channel,
        text=text,
        version=CONSENT_TEXT_VERSION,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
    )


PAGES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "title": "Your preferences",
        "intro": "Choose how we may contact you and what about. Changes apply at once.",
        "for": "Preferences for",
        "channels": "How we may contact you",
        "channel.email": "E-mail",
        "channel.sms": "Text messages (SMS)",
        "channel.post": "Post",
        "channel.phone": "Phone calls",
        "topics": "What you want to hear about",
        "frequency": "How often",
        "frequency.any": "Whenever there is news",
        "frequency.weekly": "At most once a week",
        "frequency.monthly": "At most once a month",
        "save": "Save my preferences",
        "saved": "Your preferences are saved.",
        "unsubscribe_all": "Unsubscribe from all marketing e-mail",
        "topic.news": "News",
        "topic.offers": "Offers and discounts",
        "topic.events": "Events",
        "topic.surveys": "Surveys",
        "unsub.title": "Unsubscribe",
        "unsub.question": "Do you want to stop receiving marketing e-mail from us?",
        "unsub.button": "Yes, unsubscribe me",
        "unsub.done_title": "You are unsubscribed",
        "unsub.done": "You will not receive marketing e-mail from us any more. Service messages about your account "
        "still reach you.",
        "unsub.manage": "Manage all your preferences",
        "invalid.title": "This link is not valid",
        "invalid.text": "The link may be incomplete or no longer in use. Please use the link from a recent message.",
        "privacy": "We keep a record of each change as proof of your choice.",
    },
    "ru": {
        "title": "Настройки рассылок",
        "intro": "Выберите, как и о чём мы можем с вами связываться. Изменения вступают в силу сразу.",
        "for": "Настройки для",
        "channels": "Как с вами связываться",
        "channel.email": "Электронная почта",
        "channel.sms": "SMS",
        "channel.post": "Почта",
        "channel.phone": "Звонки",
        "topics": "О чём вам интересно узнавать",
        "frequency": "Как часто",
        "frequency.any": "Когда есть новости",
        "frequency.weekly": "Не чаще раза в неделю",
        "frequency.monthly": "Не чаще раза в месяц",
        "save": "Сохранить настройки",
        "saved": "Настройки сохранены.",
        "unsubscribe_all": "Отписаться от всех рекламных писем",
        "topic.news": "Новости",
        "topic.offers": "Предложения и скидки",
        "topic.events": "Мероприятия",
        "topic.surveys": "Опросы",
        "unsub.title": "Отписка",
        "unsub.question": "Вы хотите отказаться от рекламных писем?",
        "unsub.button": "Да, отписаться",
        "unsub.done_title": "Вы отписаны",
        "unsub.done": "Вы больше не будете получать от нас рекламные письма. Служебные сообщения по вашему счёту "
        "по-прежнему будут приходить.",
        "unsub.manage": "Управлять всеми настройками",
        "invalid.title": "Ссылка недействительна",
        "invalid.text": "Возможно, ссылка неполная или больше не используется. Воспользуйтесь ссылкой из недавнего "
        "письма.",
        "privacy": "Мы сохраняем каждое изменение как подтверждение вашего выбора.",
    },
    "pl": {
        "title": "Twoje preferencje",
        "intro": "Wybierz, jak i w jakich sprawach możemy się z Tobą kontaktować. Zmiany obowiązują od razu.",
        "for": "Preferencje dla",
        "channels": "Jak możemy się kontaktować",
        "channel.email": "E-mail",
        "channel.sms": "SMS",
        "channel.post": "Poczta tradycyjna",
        "channel.phone": "Telefon",
        "topics": "O czym chcesz słyszeć",
        "frequency": "Jak często",
        "frequency.any": "Gdy są nowości",
        "frequency.weekly": "Najwyżej raz w tygodniu",
        "frequency.monthly": "Najwyżej raz w miesiącu",
        "save": "Zapisz preferencje",
        "saved": "Twoje preferencje zostały zapisane.",
        "unsubscribe_all": "Wypisz mnie ze wszystkich wiadomości marketingowych",
        "topic.news": "Nowości",
        "topic.offers": "Oferty i rabaty",
        "topic.events": "Wydarzenia",
        "topic.surveys": "Ankiety",
        "unsub.title": "Wypisanie",
        "unsub.question": "Czy chcesz przestać otrzymywać od nas e-maile marketingowe?",
        "unsub.button": "Tak, wypisz mnie",
        "unsub.done_title": "Wypisano Cię",
        "unsub.done": "Nie będziesz już otrzymywać od nas e-maili marketingowych. Wiadomości serwisowe dotyczące "
        "Twojego konta nadal będą docierać.",
        "unsub.manage": "Zarządzaj wszystkimi preferencjami",
        "invalid.title": "Ten link jest nieprawidłowy",
        "invalid.text": "Link może być niepełny lub już nieaktualny. Użyj linku z niedawnej wiadomości.",
        "privacy": "Każdą zmianę zapisujemy jako potwierdzenie Twojego wyboru.",
    },
}


def page_text(locale: str | None) -> dict[str, str]:
    return dict(PAGES[language(locale)])


def topic_label(topic: str, locale: str | None) -> str:
    """The label of a topic; a topic added in settings without a translation shows its key, readably."""
    return PAGES[language(locale)].get(f"topic.{topic}") or topic.replace("_", " ").capitalize()


SMS_REPLIES: Mapping[str, Mapping[str, str]] = {
    "en": {
        "stop": "Epistola Demo: you are unsubscribed and will get no more marketing texts. Reply START to resubscribe.",
        "start": "Epistola Demo: you are subscribed to our texts again. Reply STOP to unsubscribe, HELP for help.",
        "help": "Epistola Demo: news and offers by text. Reply STOP to unsubscribe. Help: +44 20 7946 0000.",
    },
    "ru": {
        "stop": "Эпистола Демо: вы отписаны от рекламных SMS. Чтобы подписаться снова, ответьте СТАРТ.",
        "start": "Эпистола Демо: вы снова подписаны на SMS. Чтобы отписаться, ответьте СТОП, справка: ПОМОЩЬ.",
        "help": "Эпистола Демо: новости и предложения в SMS. Чтобы отписаться, ответьте СТОП. Тел. +7 495 000-00-00.",
    },
    "pl": {
        "stop": "Epistola Demo: wypisano Cię z SMS-ów marketingowych. Aby zapisać się ponownie, odpisz START.",
        "start": "Epistola Demo: znów otrzymujesz nasze SMS-y. Aby się wypisać, odpisz STOP, pomoc: POMOC.",
        "help": "Epistola Demo: nowości i oferty SMS-em. Aby się wypisać, odpisz STOP. Pomoc: +48 22 000 00 00.",
    },
}
