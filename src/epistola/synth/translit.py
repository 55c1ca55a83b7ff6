"""Russian to Latin the way people really type it, plus Polish diacritics folding.

Nobody types one standard: passports use ICAO (Iuliia, Aleksandr), older documents and the press BGN
(Yuliya, Dmitriy), people themselves something informal (Yulia, Alexandr, Dmitry, Schukin), and some
spell the way German or Polish would (Julia, Jurij). A record picks one scheme; the same person may use
different schemes in different places. Common first names also have Western equivalents (Alexander,
Julia, Eugene) that Russians abroad use.
"""

from __future__ import annotations

import random

from epistola.synth.model import Weighted

_ICAO = {
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "i",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "ie",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "iu",
    "я": "ia",
}
_BGN = {**_ICAO, "й": "y", "ъ": "", "ю": "yu", "я": "ya", "ё": "yo"}
_INFORMAL = {**_BGN, "х": "h", "щ": "sch", "ц": "ts"}
_LATIN_J = {**_ICAO, "й": "j", "ю": "ju", "я": "ja", "ё": "jo", "х": "h", "щ": "sch", "ъ": "", "ж": "zh"}

SCHEMES = ("icao", "bgn", "informal", "latin_j")
_TABLES = {"icao": _ICAO, "bgn": _BGN, "informal": _INFORMAL, "latin_j": _LATIN_J}
# How often each scheme is typed on a web form or a card application (informal ones dominate).
SCHEME_CHOICE = Weighted(SCHEMES, [25, 20, 45, 10])

# Endings that each scheme spells its own way: Дмитрий, Юлия, Наталья
_ENDINGS = {
    "icao": {"ий": "ii", "ия": "iia", "ья": "ia", "ый": "yi"},
    "bgn": {"ий": "iy", "ия": "iya", "ья": "ya", "ый": "yy"},
    "informal": {"ий": "y", "ия": "ia", "ья": "ya", "ый": "y"},
    "latin_j": {"ий": "ij", "ия": "ia", "ья": "ja", "ый": "yj"},
}
_VOWELS = set("аеёиоуыэюяьъ")

WESTERN_FIRST_NAMES = {
    "Александр": ("Alexander", "Aleksander"),
    "Алексей": ("Alexey", "Alexei"),
    "Юлия": ("Julia",),
    "Мария": ("Maria",),
    "Наталья": ("Natalia", "Natalie"),
    "Елена": ("Elena", "Helen"),
    "Анна": ("Anna", "Ann"),
    "Евгений": ("Eugene",),
    "Пётр": ("Peter",),
    "Павел": ("Paul",),
    "Николай": ("Nicholas", "Nikolai"),
    "Сергей": ("Sergey", "Serge"),
    "Михаил": ("Michael", "Mikhail"),
    "Екатерина": ("Katerina", "Catherine"),
    "Ксения": ("Xenia", "Ksenia"),
    "Виктория": ("Victoria",),
    "Георгий": ("George",),
    "Яков": ("Jacob",),
    "Фёдор": ("Fedor", "Fyodor"),
    "Дмитрий": ("Dmitry",),
    "Татьяна": ("Tatiana",),
    "Анастасия": ("Anastasia",),
    "Софья": ("Sofia", "Sophia"),
}


def _word(word: str, scheme: str) -> str:
    table = _TABLES[scheme]
    low = word.lower()
    ending = ""
    for cyr, lat in _ENDINGS[scheme].items():
        if low.endswith(cyr) and len(low) > 2:
            low, ending = low[:-2], lat
            break
    out = []
    prev = ""
    i = 0
    while i < len(low):
        ch = low[i]
        if scheme == "informal" and low.startswith("кс", i):
            out.append("x")
            i += 2
            prev = "с"
            continue
        if scheme == "bgn" and ch == "е" and (not prev or prev in _VOWELS):
            out.append("ye")
        else:
            out.append(table.get(ch, ch))
        prev = ch
        i += 1
    latin = "".join(out) + ending
    if word.isupper() and len(word) > 1:
        return latin.upper()
    if word[:1].isupper():
        return latin[:1].upper() + latin[1:]
    return latin


def transliterate(text: str, scheme: str) -> str:
    """Transliterate every Cyrillic word of `text`, keeping spaces, hyphens and capitalisation."""
    if scheme not in _TABLES:
        raise ValueError(f"unknown transliteration scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    parts: list[str] = []
    word: list[str] = []
    for ch in text:
        if ch.isalpha():
            word.append(ch)
            continue
        if word:
            parts.append(_word("".join(word), scheme))
            word = []
        parts.append(ch)
    if word:
        parts.append(_word("".join(word), scheme))
    return "".join(parts)


def latin_first_name(name: str, rng: random.Random, scheme: str) -> str:
    """A Russian first name as its bearer would type it in Latin: a Western form now and then."""
    western = WESTERN_FIRST_NAMES.get(name)
    if western and rng.random() < 0.3:
        return western[int(rng.random() * len(western))]
    return transliterate(name, scheme)


_PL_FOLD = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


def fold_polish(text: str) -> str:
    """Polish without diacritics, as typed on a keyboard without the Polish layout (Małgorzata -> Malgorzata)."""
    return text.translate(_PL_FOLD)


def has_cyrillic(text: str) -> bool:
    return any("\u0400" <= ch <= "\u04ff" for ch in text)
