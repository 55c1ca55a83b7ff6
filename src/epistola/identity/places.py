"""Street and city keys that survive how people write addresses: with or without the street type
(St, Street, ул., ulica), a direction (W. Pratt), a house and flat number in one token (45-347, 37/113),
abbreviated cities (СПб, W-wa, NYC) and the city's name in another language (Moscow, Москва).

The hub keeps the address as parsed for mailing; these keys are only for telling whether two records
point at the same place. The alias list holds common abbreviations and exonyms of large cities in the
three markets, written from general knowledge.
"""

from __future__ import annotations

import re
from functools import lru_cache

from unidecode import unidecode

from epistola.hub.names import translit_key

_TOKENS = re.compile(r"[a-z]+|\d+")
# Street types, unit markers and directions in English, Russian (as unidecode writes it) and Polish.
_NOISE = frozenset(
    """
    st str street ave av avenue rd road dr drive ln lane blvd boulevard ct court pl place way pkwy parkway
    hwy highway sq square ter terrace cir circle apt apartment unit ste suite fl floor no n s e w north south
    east west nw ne sw se
    ul ulitsa ulitca ulica ulitsy pr prosp prospekt t per pereulok sh shosse nab naberezhnaia bul bulvar b r
    ploshchad proezd d dom kv kvartira k korp korpus stroenie mkr mikroraion
    al aleja alei os osiedle plac m lok lokal mieszkanie
    """.split()
)
_CITY_ALIASES = """
Москва: Moscow, Moskau, Moskwa, Мск, Msk
Санкт-Петербург: Saint Petersburg, St Petersburg, St. Petersburg, Sankt-Peterburg, СПб, SPb, Питер, Piter,
  С.-Петербург, С-Петербург, Petersburg, Sankt Petersburg, Petrograd
Нижний Новгород: Nizhny Novgorod, Nizhniy Novgorod, Н.Новгород, Н. Новгород, N. Novgorod, Нижний
Екатеринбург: Yekaterinburg, Ekaterinburg, Екб, Ekb
Ростов-на-Дону: Rostov-on-Don, Rostov-na-Donu, Rostov, Ростов
Новосибирск: Novosibirsk, Нск, Новосиб
Warszawa: Warsaw, Варшава, W-wa, Warschau
Kraków: Cracow, Краков
Wrocław: Breslau, Вроцлав
Łódź: Лодзь
Gdańsk: Danzig, Гданьск
Poznań: Познань
New York: New York City, NYC, NY, Нью-Йорк, Nowy Jork, Manhattan
Los Angeles: LA, L.A., Лос-Анджелес
San Francisco: SF, Сан-Франциско
Philadelphia: Philly, Филадельфия, Filadelfia
Washington: Washington DC, Washington D.C., DC, Вашингтон, Waszyngton
Chicago: Чикаго
Las Vegas: Vegas, Лас-Вегас
"""


def _aliases() -> dict[str, str]:
    """alias key -> the key of the city's first listed name; a line starting with spaces continues."""
    lines: list[str] = []
    for raw in _CITY_ALIASES.strip().splitlines():
        if raw.startswith(" ") and lines:
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw.strip())
    out: dict[str, str] = {}
    for line in lines:
        name, _, rest = line.partition(":")
        canonical = translit_key(name)
        if not canonical:
            continue
        for alias in (name, *rest.split(",")):
            key = translit_key(alias)
            if key:
                out.setdefault(key, canonical)
    return out


_CITIES = _aliases()


@lru_cache(maxsize=65536)
def city_key(city: str | None) -> str | None:
    """One key per city however it was written ('СПб', 'St. Petersburg' -> 'sanktpeterburg')."""
    key = translit_key(city)
    if not key:
        return None
    return _CITIES.get(key, key)


@lru_cache(maxsize=262144)
def street_parts(street: str | None) -> tuple[str | None, str | None]:
    """(street key, first number in the line): 'W. Pratt St' -> ('prat', None), 'ул. Ленина, д. 41' ->
    ('lenina', '41'), 'Победы 45-347' -> ('pobedi', '45')."""
    if not street:
        return None, None
    tokens = _TOKENS.findall(unidecode(street).lower())
    words = [t for t in tokens if not t.isdigit() and t not in _NOISE]
    numbers = [t for t in tokens if t.isdigit()]
    key = "".join(k for k in (translit_key(w) for w in words) if k)
    return key or None, numbers[0] if numbers else None
