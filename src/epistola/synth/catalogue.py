"""The retailer behind the loyalty programme: categories, products with price ranges, search words,
and the shopping habits a person is given (who buys business clothes regularly, who buys once).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from epistola.synth.model import AS_OF, Person, Weighted, age_on

CATEGORIES = ("business_clothes", "casual_clothes", "accessories", "shoes", "sportswear", "kids", "beauty")

# category -> (product, lowest price, highest price) in USD
PRODUCTS = {
    "business_clothes": (
        ("Wool suit", 180, 600),
        ("Dress shirt", 40, 120),
        ("Silk tie", 25, 70),
        ("Blazer", 120, 350),
        ("Tailored trousers", 60, 160),
        ("Pencil skirt", 45, 130),
    ),
    "casual_clothes": (
        ("Jeans", 40, 120),
        ("T-shirt", 12, 40),
        ("Hoodie", 35, 90),
        ("Summer dress", 40, 150),
        ("Knit sweater", 40, 120),
        ("Chinos", 35, 95),
    ),
    "accessories": (
        ("Leather belt", 20, 80),
        ("Handbag", 40, 300),
        ("Scarf", 15, 60),
        ("Wallet", 25, 120),
        ("Sunglasses", 20, 200),
        ("Watch strap", 15, 45),
    ),
    "shoes": (
        ("Sneakers", 50, 180),
        ("Ankle boots", 80, 250),
        ("Loafers", 70, 200),
        ("Sandals", 25, 80),
        ("Heels", 60, 220),
        ("Oxford shoes", 90, 260),
    ),
    "sportswear": (
        ("Leggings", 25, 80),
        ("Running shoes", 80, 180),
        ("Track jacket", 40, 120),
        ("Sports bra", 20, 60),
        ("Training shorts", 15, 45),
        ("Yoga mat", 20, 70),
    ),
    "kids": (
        ("Kids jacket", 30, 90),
        ("School uniform", 40, 120),
        ("Kids sneakers", 25, 70),
        ("Pyjamas", 15, 40),
        ("Baby romper", 12, 35),
        ("Backpack", 20, 60),
    ),
    "beauty": (
        ("Lipstick", 8, 40),
        ("Perfume", 30, 150),
        ("Moisturiser", 10, 60),
        ("Mascara", 8, 30),
        ("Nail polish", 5, 20),
        ("Shampoo", 6, 25),
    ),
}

SEARCH_WORDS = {
    "en": {
        "business_clothes": ("suit", "dress shirt", "blazer", "tie"),
        "casual_clothes": ("jeans", "hoodie", "dress"),
        "accessories": ("belt", "handbag", "scarf"),
        "shoes": ("sneakers", "boots", "loafers"),
        "sportswear": ("leggings", "running shoes"),
        "kids": ("kids jacket", "school uniform"),
        "beauty": ("perfume", "lipstick", "mascara"),
    },
    "ru": {
        "business_clothes": ("костюм", "рубашка", "пиджак", "галстук"),
        "casual_clothes": ("джинсы", "худи", "платье"),
        "accessories": ("ремень", "сумка", "шарф"),
        "shoes": ("кроссовки", "ботинки", "лоферы"),
        "sportswear": ("легинсы", "беговые кроссовки"),
        "kids": ("детская куртка", "школьная форма"),
        "beauty": ("духи", "помада", "тушь"),
    },
    "pl": {
        "business_clothes": ("garnitur", "koszula", "marynarka", "krawat"),
        "casual_clothes": ("jeansy", "bluza", "sukienka"),
        "accessories": ("pasek", "torebka", "szalik"),
        "shoes": ("sneakersy", "botki", "mokasyny"),
        "sportswear": ("legginsy", "buty do biegania"),
        "kids": ("kurtka dziecięca", "mundurek"),
        "beauty": ("perfumy", "szminka", "tusz do rzęs"),
    },
}

CURRENCY = {"US": ("USD", 1.0), "RU": ("RUB", 90.0), "PL": ("PLN", 4.0)}

# Who regularly buys business clothes: the Devino "men over 30" story, but not only them.
BUSINESS_REGULAR = {
    ("male", True): 0.30,
    ("female", True): 0.10,
    ("male", False): 0.06,
    ("female", False): 0.06,
}

_FAVOURITES = {
    "male": Weighted(CATEGORIES, (6, 30, 8, 22, 26, 8, 2)),
    "female": Weighted(CATEGORIES, (5, 26, 18, 18, 10, 8, 25)),
}
_ANY = Weighted(CATEGORIES, (1, 3, 2, 2, 1.5, 1, 1.5))


@dataclass(frozen=True, kw_only=True, slots=True)
class Shopper:
    """A person's habits: a few favourite categories, maybe a regular business-clothes buyer."""

    business_regular: bool
    favourites: tuple[str, ...]
    online_share: float
    app_user: bool

    def category(self, rng: random.Random) -> str:
        r = rng.random()
        if self.business_regular and r < 0.45:
            return "business_clothes"
        if r < 0.7:
            return self.favourites[int(rng.random() * len(self.favourites))]
        return _ANY.pick(rng)  # the occasional one-off buy in a category the person rarely shops


def shopper(p: Person, rng: random.Random) -> Shopper:
    age = age_on(p.birth_date, AS_OF)
    favourites = [_FAVOURITES[p.gender].pick(rng) for _ in range(1 + (rng.random() < 0.5))]
    if 28 <= age <= 50 and rng.random() < 0.3:
        favourites.append("kids")
    return Shopper(
        business_regular=rng.random() < BUSINESS_REGULAR[(p.gender, age > 30)],
        favourites=tuple(favourites),
        online_share=0.05 + 0.5 * rng.random() * (1.5 if age < 40 else 0.6),
        app_user=rng.random() < (0.6 if age < 45 else 0.3),
    )


def product(category: str, rng: random.Random, country: str) -> tuple[str, str, str]:
    """(sku, product name, amount as text) in the country's currency."""
    items = PRODUCTS[category]
    i = int(rng.random() * len(items))
    name, low, high = items[i]
    _, rate = CURRENCY[country]
    usd = low + (high - low) * rng.random() ** 1.5
    if country == "RU":
        amount = f"{round(usd * rate, -1):.2f}"  # roubles are priced in tens
    else:
        amount = f"{int(usd * rate) + 0.99:.2f}"  # .99 endings
    return f"{category[:3].upper()}-{i + 1:03d}", name, amount
