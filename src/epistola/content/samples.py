"""Sample customers for validating and proofing designs: every language, every gender (and none), long
names, missing names and cities, Letter and A4 addresses.

A design is rendered for each of them before a version is stored, so an SMS that is too long for a
Polish double-barrelled surname, or a greeting that breaks without a first name, is found at save time.
"""

from __future__ import annotations

from datetime import date
from typing import Any

SAMPLE_CUSTOMERS: tuple[dict[str, Any], ...] = (
    {
        "id": 900001,
        "first_name": "James",
        "last_name": "Whitfield",
        "gender": "m",
        "locale": "en",
        "country": "GB",
        "city": "London",
        "postcode": "SW1A 1AA",
        "street": "10 Downing Street",
        "birth_date": date(1979, 4, 23),
        "email": "james.whitfield@example.com",
        "attributes": {},
    },
    {
        "id": 900002,
        "first_name": "Margaret-Elizabeth",
        "last_name": "Montgomery-Richardson",
        "gender": "f",
        "locale": "en",
        "country": "US",
        "region": "IL",
        "city": "Springfield",
        "postcode": "62701",
        "street": "1600 North Sangamon Avenue, Apartment 4B",
        "birth_date": date(1990, 11, 2),
        "email": "mer@example.com",
        "attributes": {},
    },
    {
        "id": 900003,
        "first_name": "Alex",
        "last_name": "Taylor",
        "gender": "x",
        "locale": "en",
        "country": "GB",
        "postcode": "M1 1AE",
        "street": "2 Piccadilly",
        "email": "alex@example.com",
        "attributes": {},
    },
    {
        "id": 900004,
        "first_name": None,
        "last_name": None,
        "gender": None,
        "locale": "en",
        "country": None,
        "email": "someone@example.com",
        "attributes": {},
    },
    {
        "id": 900005,
        "first_name": "Константин",
        "last_name": "Константинопольский",
        "gender": "m",
        "locale": "ru",
        "country": "RU",
        "region": "Ленинградская область",
        "city": "Санкт-Петербург",
        "postcode": "191186",
        "street": "Невский проспект, д. 28, кв. 15",
        "birth_date": date(1968, 7, 30),
        "email": "k.konst@example.ru",
        "attributes": {"middle_name": "Вячеславович"},
    },
    {
        "id": 900006,
        "first_name": "Анна",
        "last_name": "Иванова",
        "gender": "f",
        "locale": "ru",
        "country": "RU",
        "city": "Москва",
        "postcode": "125009",
        "street": "ул. Тверская, д. 7",
        "email": "anna@example.ru",
        "attributes": {"middle_name": "Сергеевна"},
    },
    {
        "id": 900007,
        "first_name": "Małgorzata",
        "last_name": "Wiśniewska-Szczepańska",
        "gender": "f",
        "locale": "pl",
        "country": "PL",
        "city": "Łódź",
        "postcode": "90-001",
        "street": "ul. Piotrkowska 104 m. 12",
        "birth_date": date(1985, 2, 14),
        "email": "malgorzata@example.pl",
        "attributes": {},
    },
    {
        "id": 900008,
        "first_name": "Grzegorz",
        "last_name": "Brzęczyszczykiewicz",
        "gender": "m",
        "locale": "pl",
        "country": "PL",
        "city": "Chrząszczyżewoszyce",
        "postcode": "97-300",
        "street": "ul. Długa 1",
        "email": "grzegorz@example.pl",
        "attributes": {},
    },
)

SAMPLE_CAMPAIGN = {"id": 0, "name": "sample-campaign"}
SAMPLE_LINKS = {
    "pixel": "https://epistola.example/t/o/sample.gif",
    "preferences": "https://epistola.example/preferences/sample",
    "unsubscribe": "https://epistola.example/u/sample",
    "purl": "https://epistola.example/p/sample-token-000000000000",
    "web": "https://epistola.example/w/sample",
}
SAMPLE_AGENT = {"name": "Priya Raman", "phone": "+44 20 7946 0018", "email": "priya.raman@epistola.example"}
SAMPLE_DOCUMENT = {
    "kind": "statement",
    "number": "ST-2026-000123",
    "date": date(2026, 3, 31),
    "period_start": date(2026, 3, 1),
    "period_end": date(2026, 3, 31),
    "currency": "EUR",
    "lines": [
        {"date": date(2026, 3, 2), "description": "Wool coat", "amount": 189.0},
        {"date": date(2026, 3, 9), "description": "Leather gloves", "amount": 39.5},
        {"date": date(2026, 3, 17), "description": "Return: scarf", "amount": -25.0},
        {"date": date(2026, 3, 28), "description": "Shirt, slim fit, white, size 40", "amount": 49.9},
    ],
    "total": 253.4,
    "due_date": date(2026, 4, 15),
}
