"""The segment benchmark's operational store: 1,000,000 customers and 20,000,000 events in SQLite.

Going through the importer would take an hour at this size, and the benchmark is about the mart, not
the hub, so the rows are generated with numpy and written with sqlite3 straight into a migrated
database (indexes dropped during the load and rebuilt after). The file is built once and cached under
``benchmarks/.work/``; a marker file records the parameters and how long the setup took.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from epistola.store import make_engine, upgrade

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TIMEZONES = ("Europe/Warsaw", "Europe/Moscow", "America/New_York", "Asia/Vladivostok", "Pacific/Auckland", None)
COUNTRIES = {"PL": ("mazowieckie", "malopolskie", "slaskie"), "RU": ("Moscow", "Tatarstan"), "US": ("NY", "CA", "TX")}
CATEGORIES = ("business_clothes", "casual_clothes", "accessories", "shoes", "sportswear", "kids", "beauty")
EVENT_TYPES = ("purchase", "page_view", "search", "add_to_cart", "survey_answer")
EVENT_SHARES = (0.35, 0.42, 0.1, 0.12, 0.01)
FIRST = ("Anna", "Jan", "Olga", "Ivan", "Susan", "Piotr", "Maria", "John")
LAST = ("Nowak", "Ivanov", "Miller", "Kowalska", "Smith", "Petrova")
PLACES = ",".join("?" * 20)  # the customers table's columns


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _seconds(values: np.ndarray) -> list[str]:
    """Epoch seconds -> SQLite's stored form of a UTC datetime."""
    return [s.replace("T", " ") + ".000000" for s in np.datetime_as_string(values.astype("datetime64[s]"))]


def _customers(n: int, rng: np.random.Generator, start: int, end: int) -> Iterator[tuple[object, ...]]:
    ids = np.arange(start, end)
    k = len(ids)
    countries = list(COUNTRIES)
    country = rng.integers(0, len(countries), k)
    region = rng.integers(0, 3, k)
    gender = rng.choice(np.array(["f", "m", "x", ""]), k, p=(0.48, 0.45, 0.02, 0.05))
    born = np.datetime64("1940-01-01") + rng.integers(0, 365 * 66, k)
    known_birth = rng.random(k) < 0.85
    tz = rng.integers(0, len(TIMEZONES), k)
    card = rng.random(k) < 0.4
    card_day = np.datetime64(NOW.date()) - rng.integers(0, 900, k)
    created = int(NOW.timestamp()) - rng.integers(86400, 86400 * 1500, k)
    has_email = rng.random(k) < 0.85
    has_phone = rng.random(k) < 0.7
    has_street = rng.random(k) < 0.75
    updated = _ts(NOW - timedelta(days=1))
    born_s = np.datetime_as_string(born)
    card_s = np.datetime_as_string(card_day)
    created_s = _seconds(created)
    for i in range(k):
        cid = int(ids[i])
        c = countries[country[i]]
        regions = COUNTRIES[c]
        attrs = {"card_issued": str(card_s[i]), "tier": ("gold", "silver", "basic")[cid % 3]} if card[i] else {}
        yield (
            cid,
            FIRST[cid % len(FIRST)],
            LAST[cid % len(LAST)],
            f"c{cid}@example.com" if has_email[i] else None,
            f"+4850{cid:07d}" if has_phone[i] else None,
            gender[i] or None,
            str(born_s[i]) if known_birth[i] else None,
            None if known_birth[i] else 26,
            None if known_birth[i] else 40,
            ("pl", "ru", "en")[country[i]],
            c,
            regions[region[i] % len(regions)],
            f"City {cid % 50}",
            f"{cid % 100000:05d}",
            f"Street {cid % 999}" if has_street[i] else None,
            TIMEZONES[tz[i]],
            json.dumps(attrs),
            None,
            created_s[i],
            updated,
        )


def _consents(rng: np.random.Generator, n: int) -> Iterator[tuple[object, ...]]:
    ids = np.arange(1, n + 1)
    for channel, share in (("email", 0.75), ("sms", 0.55)):
        has = rng.random(n) < share
        granted = rng.random(n) < 0.65
        when = _seconds(int(NOW.timestamp()) - rng.integers(86400, 86400 * 900, n))
        for i in np.flatnonzero(has):
            yield (
                int(ids[i]),
                channel,
                "marketing",
                "granted" if granted[i] else "denied",
                "bench",
                "{}",
                when[i],
                None,
            )


def _events(rng: np.random.Generator, n_customers: int, start: int, end: int) -> Iterator[tuple[object, ...]]:
    k = end - start
    # A heavy tail: a few customers are very active, many buy once or never.
    weights = rng.lognormal(0.0, 1.2, n_customers)
    customer = rng.choice(np.arange(1, n_customers + 1), k, p=weights / weights.sum())
    etype = rng.choice(len(EVENT_TYPES), k, p=EVENT_SHARES)
    category = rng.integers(0, len(CATEGORIES), k)
    occurred = _seconds(int(NOW.timestamp()) - rng.integers(0, 86400 * 730, k))
    amount = np.round(rng.gamma(2.0, 40.0, k), 2)
    received = _ts(NOW - timedelta(days=1))
    for i in range(k):
        t = EVENT_TYPES[etype[i]]
        purchase = t == "purchase"
        yield (
            start + i,
            f"b:{start + i}",
            int(customer[i]),
            t,
            occurred[i],
            float(amount[i]) if purchase else None,
            "EUR" if purchase else None,
            CATEGORIES[category[i]] if purchase else None,
            '{"channel": "store"}' if purchase and i % 3 else '{"channel": "online"}',
            received,
        )


def build(path: Path, *, customers: int, events: int, seed: int = 6) -> float:
    """Write the database at `path` (replacing it); returns the seconds it took."""
    started = time.perf_counter()
    path.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    rng = np.random.default_rng(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name IN ('events', 'consents', 'customers') "
        "AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in indexes:
        db.execute(f'DROP INDEX "{name}"')
    step = 200_000
    for lo in range(1, customers + 1, step):
        hi = min(customers + 1, lo + step)
        db.executemany(f"INSERT INTO customers VALUES ({PLACES})", _customers(customers, rng, lo, hi))  # noqa: S608
        print(f"  customers {hi - 1:,}", flush=True)
    db.executemany("INSERT INTO consents VALUES (NULL,?,?,?,?,?,?,?,?)", _consents(rng, customers))
    step = 1_000_000
    for lo in range(1, events + 1, step):
        hi = min(events + 1, lo + step)
        db.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?)", _events(rng, customers, lo, hi))
        db.commit()
        print(f"  events {hi - 1:,}", flush=True)
    for name, sql in indexes:
        print(f"  index {name}", flush=True)
        db.execute(sql)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


def cached(work: Path, *, customers: int, events: int) -> tuple[Path, float | None]:
    """The cached database for these sizes, built if missing; the build time when built now."""
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"segment-{customers}-{events}.db"
    marker = path.with_suffix(".json")
    if path.exists() and marker.exists():
        return path, None
    seconds = build(path, customers=customers, events=events)
    marker.write_text(json.dumps({"customers": customers, "events": events, "setup_s": round(seconds, 1)}))
    return path, seconds
