"""A small loyalty-members file that is broken on purpose, for tests of bad input.

The generated datasets never contain structurally broken CSV (an import demo must run clean); tests
of the importer's error reporting use this sample instead, and the returned map says which physical
line holds which problem, so a test can check that the error names the right line and field.
"""

from __future__ import annotations

from pathlib import Path

from epistola.synth.loyalty import COLUMNS, luhn

_CARDS = {f"c{n}": luhn(f"77{n:09d}") for n in range(1, 10)}
_GOOD = tuple(
    row.format(**_CARDS)
    for row in (
        "{c1},2024-05-14,BAL-01,Bill,Weingarten,M,2,(410) 555-0134,bill.w@gmail.com,1102 Pratt,Baltimore,21201,US",
        "{c2},2025-02-03,MOW-03,Саша,Иванова,F,1,+7 (916) 123-45-67,,ул Ленина 5,Москва,101000,Россия",
        "{c3},2026-10-25,WAW-02,Kasia,Kowalska,K,,601-234-567,kasia.k@wp.pl,Marszałkowska 10,Warszawa,00-950,PL",
    )
)


def write_malformed_sample(path: Path) -> dict[int, str]:
    """Write the sample to `path`; return physical line number (1-based) -> what is wrong on that line."""
    header = ",".join(COLUMNS)
    problems: dict[int, str] = {}
    lines: list[bytes] = [header.encode(), *(row.encode() for row in _GOOD)]

    def bad(line: bytes, problem: str) -> None:
        for name, card in _CARDS.items():
            line = line.replace(b"{%s}" % name.encode(), card.encode())
        lines.append(line)
        problems[len(lines)] = problem

    bad(
        b"{c4},2023-07-01,CHI-01,Mike,Nowak,M,3,312-555-0199,mike@gmail.com,5 Oak St,Chicago,60601,US,extra",
        "too many fields (14, expected 13)",
    )
    bad(b"{c5},2023-07-02,CHI-01,Anna,Lee,F", "too few fields (6, expected 13)")
    bad(
        b"{c6},2022-01-09,KRK-01,\xff\xfeGosia,Nowak,K,2,,,Grodzka 4,Krak\xf3w,31-001,PL",
        "not valid UTF-8 (bytes 0xff 0xfe in given_name, a cp1250 'ó' in city)",
    )
    bad(
        b"{c7},2025-13-45,LED-01,\xd0\x94\xd0\xb8\xd0\xbc\xd0\xb0,Petrov,M,1,,,,,190000,RU",
        "card_issued is not a date (2025-13-45)",
    )
    lines.append(_GOOD[0].replace(_CARDS["c1"], _CARDS["c8"]).encode())
    bad(
        b'{c9},2024-11-11,WAW-01,"Ola,Zielinska,F,1,,,,Warszawa,00-001,PL',
        "unterminated quote in given_name (runs to the end of the file)",
    )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return problems
