"""Behaviour: `transactions.csv` (loyalty purchases) and `web_events.jsonl` (site and app activity).

`events_per_customer` is the mean number of transactions plus web events per person. Activity is
heavy-tailed (log-normal per person), so many people buy once and a few buy every month. Card holders
who also use the site split their events 45/55 between purchases and web events; card-only holders
mostly buy; CRM-only persons only show up as newsletter click-throughs identified by e-mail.
Purchases fall within the two years before the as-of date 90 % of the time and never before the card
was issued; store purchases happen between 09:00 and 21:00 local time. 0.2 % of purchase rows carry a
card number that was never issued (`orphan_transactions`).
"""

from __future__ import annotations

import csv
import json
import random
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo

from epistola.synth.catalogue import CATEGORIES, CURRENCY, SEARCH_WORDS, Shopper, product, shopper
from epistola.synth.loyalty import Card, luhn
from epistola.synth.model import AS_OF, Person, Progress, Weighted
from epistola.synth.sources import Truth, utc_iso

ORPHAN_RATE = 0.002
RECENT_SHARE = 0.9
TX_COLUMNS = "event_id,card_no,occurred_at,amount,currency,category,product,store,channel".split(",")
_END = int(datetime(AS_OF.year, AS_OF.month, AS_OF.day, tzinfo=UTC).timestamp())
_TWO_YEARS = int(timedelta(days=730).total_seconds())
_WEB_TYPES = Weighted(("page_view", "search", "add_to_cart", "app_open", "location"), (55, 12, 10, 13, 10))
_PAGES = ("/", "/account", "/stores", "/lookbook", "/loyalty")


def _start(ts: int) -> int:
    """Where a person's activity window starts: mostly the last two years, never before `ts`."""
    return max(ts, _END - _TWO_YEARS)


class _Writers:
    """Both event files, open together: a person's purchases and clicks are drawn in one pass."""

    def __init__(self, tx_path: Path, web_path: Path) -> None:
        self._tx_file: IO[str] = tx_path.open("w", encoding="utf-8", newline="")
        self.web_file: IO[str] = web_path.open("w", encoding="utf-8", newline="\n")
        self.tx = csv.writer(self._tx_file, lineterminator="\n")
        self.tx.writerow(TX_COLUMNS)
        self.tx_rows = 0
        self.web_rows = 0

    def close(self) -> None:
        self._tx_file.close()
        self.web_file.close()


def _split(n: int, share: float, rng: random.Random) -> tuple[int, int]:
    tx = sum(1 for _ in range(n) if rng.random() < share)
    return tx, n - tx


def _counts(
    people: list[Person],
    cards: dict[int, Card],
    regs: dict[int, list[tuple[str, int]]],
    per_customer: float,
    rng: random.Random,
) -> list[int]:
    """How many events each person produces, so that the total is customers × per_customer."""
    weights = []
    for p in people:
        w = rng.lognormvariate(0.0, 0.9)
        weights.append(w if (p.index in cards or p.index in regs) else w * 0.3)
    scale = per_customer * len(people) / (sum(weights) or 1.0)
    counts = []
    for w in weights:
        lam = w * scale
        counts.append(int(lam) + (rng.random() < lam - int(lam)))
    return counts


def _purchases(
    w: _Writers, card: Card, habits: Shopper, n: int, rng: random.Random, truth: Truth, n_cards: int
) -> None:
    p = card.person
    tz = ZoneInfo(p.tz)
    issued = int(datetime(card.issued.year, card.issued.month, card.issued.day, tzinfo=tz).timestamp())
    if issued >= _END:
        return
    currency = CURRENCY[p.country][0]
    times = []
    for _ in range(n):
        lo = _start(issued) if rng.random() < RECENT_SHARE else issued
        times.append(lo + int(rng.random() * (_END - lo)))
    times.sort()
    for ts in times:
        category = habits.category(rng)
        _, name, amount = product(category, rng, p.country)
        online = rng.random() < habits.online_share
        local = datetime.fromtimestamp(ts, tz)
        if not online and not 9 <= local.hour < 21:
            local = local.replace(hour=9 + int(rng.random() * 12))
        card_no = card.card_no
        if rng.random() < ORPHAN_RATE:
            card_no = _orphan(n_cards, rng)
            truth.plant("orphan_transactions")
        w.tx_rows += 1
        w.tx.writerow(
            (
                f"T{w.tx_rows:09d}",
                card_no,
                local.isoformat(timespec="seconds"),
                amount,
                currency,
                category,
                name,
                f"WEB-{p.country}" if online else card.store,
                "online" if online else "store",
            )
        )


def _orphan(n_cards: int, rng: random.Random) -> str:
    """A card number that looks right but was never issued (a later range, or a keying slip)."""
    return luhn(f"77{n_cards + 1 + int(rng.random() * 50_000):09d}")


def _one_orphan(w: _Writers, cards: list[Card], rng: random.Random, truth: Truth) -> None:
    card = cards[-1]
    at = datetime.fromtimestamp(_END - 86_400 + 43_200, ZoneInfo(card.person.tz))
    w.tx_rows += 1
    currency = CURRENCY[card.person.country][0]
    gift = (
        f"T{w.tx_rows:09d}",
        _orphan(len(cards), rng),
        at.isoformat(timespec="seconds"),
        "25.00",
        currency,
    )
    w.tx.writerow((*gift, CATEGORIES[2], "Gift card", card.store, "store"))
    truth.plant("orphan_transactions")


@cache
def _js(text: str) -> str:
    """A JSON string literal; cached because the same catalogue strings repeat millions of times."""
    return json.dumps(text, ensure_ascii=False)


def _properties(kind: str, p: Person, habits: Shopper, rng: random.Random) -> str:
    """The event's `properties` object as JSON text (built by hand: json.dumps per event is the bottleneck)."""
    category = habits.category(rng)
    if kind == "page_view":
        r = rng.random()
        if r < 0.45:
            return _js(f"/{('sale', 'new', 'c')[int(rng.random() * 3)]}/{category.replace('_', '-')}")
        if r < 0.8:
            return _js(f"/p/{product(category, rng, p.country)[0].lower()}")
        return _js(_PAGES[int(rng.random() * len(_PAGES))])
    if kind == "search":
        options = SEARCH_WORDS[p.locale][category]
        return '{"query":' + _js(options[int(rng.random() * len(options))]) + "}"
    if kind == "add_to_cart":
        sku, name, amount = product(category, rng, p.country)
        return f'{{"sku":"{sku}","category":"{category}","product":{_js(name)},"price":"{amount}"}}'
    if kind == "app_open":
        return '{"platform":"ios"}' if rng.random() < 0.45 else '{"platform":"android"}'
    city = p.address.city
    lat, lon = round(city.lat + rng.gauss(0, 0.04), 5), round(city.lon + rng.gauss(0, 0.06), 5)
    return f'{{"lat":{lat!r},"lon":{lon!r}}}'


def _web_events(
    w: _Writers, p: Person, habits: Shopper, regs: list[tuple[str, int]], n: int, rng: random.Random
) -> None:
    first = regs[0][1] if regs else _END - _TWO_YEARS - int(rng.random() * _TWO_YEARS)
    start = _start(first)
    times = sorted(start + int(rng.random() * (_END - start)) for _ in range(n))
    email_js = f'"{p.email}"'  # addresses are built from [a-z0-9._-] and a domain: nothing to escape
    for ts in times:
        reg_id = email = "null"
        if regs:
            if rng.random() < 0.85:
                # the latest registration made by then (a second sign-up cannot be used before it happens)
                reg_id = f'"{regs[0][0] if len(regs) == 1 or ts < regs[1][1] else regs[1][0]}"'
                if rng.random() < 0.3:
                    email = email_js
            elif rng.random() < 0.5:
                email = email_js
        else:  # a newsletter click-through: known only by the address it was sent to
            email = email_js
        kind = _WEB_TYPES.pick(rng)
        if kind in ("app_open", "location") and not habits.app_user:
            kind = "page_view"
        props = _properties(kind, p, habits, rng)
        if kind == "page_view":
            props = '{"path":' + props + "}"
        w.web_rows += 1
        w.web_file.write(
            f'{{"event_id":"E{w.web_rows:09d}","reg_id":{reg_id},"email":{email},"type":"{kind}",'
            f'"occurred_at":"{utc_iso(ts)}","properties":{props}}}\n'
        )


def write_events(
    tx_path: Path,
    web_path: Path,
    people: list[Person],
    cards: list[Card],
    regs: dict[int, list[tuple[str, int]]],
    per_customer: float,
    rng: random.Random,
    truth: Truth,
    progress: Progress,
) -> tuple[int, int]:
    """Write both event files; return (transaction rows, web event rows)."""
    by_person = {c.person.index: c for c in cards}
    counts = _counts(people, by_person, regs, per_customer, rng)
    w = _Writers(tx_path, web_path)
    try:
        order = list(range(len(people)))
        rng.shuffle(order)
        for done, i in enumerate(order, 1):
            p, n = people[i], counts[i]
            if n:
                habits = shopper(p, rng)
                card, registrations = by_person.get(i), regs.get(i, [])
                share = (0.45 if registrations else 0.85) if card else 0.0
                n_tx, n_web = _split(n, share, rng)
                if card and n_tx:
                    _purchases(w, card, habits, n_tx, rng, truth, len(cards))
                if n_web:
                    _web_events(w, p, habits, registrations, n_web, rng)
            if done % 1000 == 0 and done < len(people):
                progress("events", done, len(people))
        if cards and w.tx_rows and truth.planted["orphan_transactions"] == 0:
            _one_orphan(w, cards, rng, truth)  # so that every dataset exercises the check
    finally:
        w.close()
    progress("events", len(people), len(people))
    return w.tx_rows, w.web_rows
