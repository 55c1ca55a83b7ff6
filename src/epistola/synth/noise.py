"""How people and clerks distort text: keyboard typos, CASE and spacing mess, lost diacritics.

Typos follow the four slips typists really make (Damerau's classes): a neighbouring key, two letters
swapped, a letter dropped, a letter doubled. Neighbours come from the keyboard the writer uses: QWERTY
for English and Polish, ЙЦУКЕН for Russian.
"""

from __future__ import annotations

import random

_QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
_JCUKEN = ("йцукенгшщзхъ", "фывапролджэ", "ячсмитьбю")


def _neighbours(rows: tuple[str, ...]) -> dict[str, str]:
    """Keys next to each key: left and right in its row, and the nearest keys above and below."""
    result: dict[str, str] = {}
    for r, row in enumerate(rows):
        for i, ch in enumerate(row):
            near = [row[j] for j in (i - 1, i + 1) if 0 <= j < len(row)]
            # rows are staggered: a key touches keys i and i+1 of the row above, i-1 and i below
            for other, cols in ((r - 1, (i, i + 1)), (r + 1, (i - 1, i))):
                if 0 <= other < len(rows):
                    near.extend(rows[other][j] for j in cols if 0 <= j < len(rows[other]))
            result[ch] = "".join(near)
    return result


_NEAR = {**_neighbours(_QWERTY), **_neighbours(_JCUKEN)}
_NEAR["ё"] = _NEAR["е"]
for _pl, _base in zip("ąćęłńóśźż", "acelnoszz", strict=True):
    _NEAR[_pl] = _base + _NEAR[_base]  # the commonest slip on a Polish letter is losing the diacritic

TYPO_KINDS = ("neighbour", "transpose", "drop", "double")


def typo(text: str, rng: random.Random, kind: str | None = None) -> str:
    """One realistic slip somewhere inside `text` (never the first letter: people rarely miss that one)."""
    letters = [i for i, ch in enumerate(text) if ch.isalpha() and i > 0]
    if not letters:
        return text
    kind = kind or TYPO_KINDS[int(rng.random() * len(TYPO_KINDS))]
    i = letters[int(rng.random() * len(letters))]
    ch = text[i]
    if kind == "neighbour":
        near = _NEAR.get(ch.lower())
        if near:
            new = near[int(rng.random() * len(near))]
            return text[:i] + (new.upper() if ch.isupper() else new) + text[i + 1 :]
        kind = "double"
    if kind == "transpose" and i + 1 < len(text) and text[i + 1].isalpha() and text[i + 1] != ch:
        return text[:i] + text[i + 1] + ch + text[i + 2 :]
    if kind == "drop" and len(letters) > 2:
        return text[:i] + text[i + 1 :]
    return text[:i] + ch + text[i:]  # doubled letter: the fallback for every slip that does not apply


def mess(text: str, rng: random.Random) -> str:
    """CASE and spacing mess: ALL CAPS, all lower, or stray spaces around and inside."""
    r = rng.random()
    if r < 0.4:
        return text.upper()
    if r < 0.6:
        return text.lower()
    if r < 0.85:
        return " " + text + ("  " if rng.random() < 0.5 else " ")
    parts = text.split(" ")
    return "  ".join(parts) + " " if len(parts) > 1 else text + " "


def yo_to_e(text: str) -> str:
    """Most Russians type е for ё (Фёдоров -> Федоров): two spellings of one name."""
    return text.replace("ё", "е").replace("Ё", "Е")


def noisy_name(
    text: str,
    rng: random.Random,
    *,
    typo_rate: float,
    mess_rate: float,
    yo_rate: float = 0.5,
) -> str:
    """A name field as a source holds it: mostly right, sometimes mistyped, sometimes messy."""
    if not text:
        return text
    if yo_rate and "ё" in text and rng.random() < yo_rate:
        text = yo_to_e(text)
    if rng.random() < typo_rate:
        text = typo(text, rng)
    if rng.random() < mess_rate:
        text = mess(text, rng)
    return text


def chance(rng: random.Random, p: float) -> bool:
    return rng.random() < p
