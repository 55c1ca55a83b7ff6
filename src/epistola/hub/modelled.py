"""Modelled values: a missing gender or age band filled from similar customers, stored as modelled.

A logistic regression (scikit-learn) learns from the customers who stated the field: their first name
(as its transliteration key, so Александр and Aleksandr count as one), country and language, what they
buy (share of purchases per category) and their overlay attributes. It then scores the customers who
did not state it. Only predictions at or above `min_confidence` are kept, in `modelled_values`, with
the probability and the model's name; a stated value is never modelled, never overwritten, and never
shown without the word "modelled" (see `enrich.apply_profiles`).

Each run reports the model's accuracy on a fifth of the stated customers held out from training, next
to the accuracy of always guessing the most common value; a model that does not beat that guess stores
nothing.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from epistola import audit
from epistola.errors import InputError
from epistola.hub.names import translit_key
from epistola.store.schema import customers, events, modelled_values, profile_attributes

FIELDS = ("gender", "age_band")
AGE_BANDS = ((18, 25), (26, 35), (36, 45), (46, 55), (56, 65), (66, 120))
MIN_TRAINING = 50  # stated customers needed before a model is worth anything


@dataclass(frozen=True, kw_only=True)
class ModelReport:
    field: str
    model: str
    trained_on: int  # customers who stated the field
    holdout_accuracy: float
    baseline_accuracy: float  # always guessing the most common value
    scored: int  # customers without the field
    stored: int  # predictions at or above the confidence threshold


def age_band(birth: date, today: date) -> str | None:
    age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    for low, high in AGE_BANDS:
        if low <= age <= high:
            return f"{low}-{high}" if high < 120 else f"{low}+"
    return None


def _features(conn: Connection) -> tuple[dict[int, dict[str, float]], dict[int, dict[str, Any]]]:
    people: dict[int, dict[str, Any]] = {}
    feats: dict[int, dict[str, float]] = {}
    rows = conn.execute(
        select(
            customers.c.id,
            customers.c.first_name,
            customers.c.country,
            customers.c.locale,
            customers.c.gender,
            customers.c.birth_date,
            customers.c.age_min,
        ).where(customers.c.merged_into.is_(None))
    )
    for cid, first, country, locale, gender, birth, age_min in rows:
        people[cid] = {"gender": gender, "birth_date": birth, "age_stated": birth is not None or age_min is not None}
        f: dict[str, float] = {f"country={country}": 1.0, f"locale={locale}": 1.0}
        key = translit_key(first)
        if key:
            f[f"first={key}"] = 1.0
            f[f"first_end={key[-2:]}"] = 1.0  # -a, -na, -ski / -ska: endings carry gender in Slavic names
        feats[cid] = f
    bought: dict[int, Counter[str]] = defaultdict(Counter)
    for cid, category, n in conn.execute(
        select(events.c.customer_id, events.c.category, func.count())
        .where(events.c.customer_id.is_not(None), events.c.category.is_not(None))
        .group_by(events.c.customer_id, events.c.category)
    ):
        bought[int(cid)][str(category)] += int(n)
    for cid, counts in bought.items():
        if cid in feats:
            total = sum(counts.values())
            feats[cid].update({f"buys={c}": n / total for c, n in counts.items()})
    for cid, name, value in conn.execute(
        select(profile_attributes.c.customer_id, profile_attributes.c.name, profile_attributes.c.value).where(
            profile_attributes.c.origin == "overlay"
        )
    ):
        if int(cid) in feats and isinstance(value, str):
            feats[int(cid)][f"{name}={value}"] = 1.0
    return feats, people


def model_missing(
    conn: Connection,
    *,
    now: datetime,
    fields: tuple[str, ...] = FIELDS,
    min_confidence: float = 0.6,
    actor: str = "system",
    seed: int = 7,
) -> list[ModelReport]:
    """Train one model per field on the customers who stated it; store confident predictions for the rest."""
    from sklearn.feature_extraction import DictVectorizer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InputError(f"cannot model {unknown}; modelled fields are {list(FIELDS)}")
    feats, people = _features(conn)
    today = now.date()
    reports = []
    for field in fields:
        labels: dict[int, str] = {}
        targets: list[int] = []
        for cid, p in people.items():
            if field == "gender":
                if p["gender"] in ("f", "m"):
                    labels[cid] = p["gender"]
                elif p["gender"] is None:
                    targets.append(cid)
            else:
                band = age_band(p["birth_date"], today) if p["birth_date"] else None
                if band:
                    labels[cid] = band
                elif not p["age_stated"]:
                    targets.append(cid)
        model_name = f"logistic-{field}-{now:%Y%m%d}"
        conn.execute(delete(modelled_values).where(modelled_values.c.field == field))
        if len(labels) < MIN_TRAINING or len(set(labels.values())) < 2:
            reports.append(ModelReport(field=field, model=model_name, trained_on=len(labels), holdout_accuracy=0.0,
                                       baseline_accuracy=0.0, scored=len(targets), stored=0))  # fmt: skip
            continue
        ids = sorted(labels)
        vectorizer = DictVectorizer()
        x = vectorizer.fit_transform([feats[i] for i in ids])
        y = [labels[i] for i in ids]
        x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=None)
        holdout = LogisticRegression(max_iter=300, C=2.0).fit(x_train, y_train)
        accuracy = float((holdout.predict(x_test) == y_test).mean()) if len(y_test) else 0.0
        baseline = Counter(y_test).most_common(1)[0][1] / len(y_test) if y_test else 0.0
        model = LogisticRegression(max_iter=300, C=2.0).fit(x, y)
        stored = 0
        if targets and accuracy > baseline:  # a model no better than guessing fills nothing in
            probabilities = model.predict_proba(vectorizer.transform([feats[i] for i in targets]))
            classes = list(model.classes_)
            rows = []
            for cid, probs in zip(targets, probabilities, strict=True):
                best = int(probs.argmax())
                if probs[best] >= min_confidence:
                    confidence = round(float(probs[best]), 4)
                    rows.append(
                        {"customer_id": cid, "field": field, "value": str(classes[best]), "confidence": confidence}
                        | {"model": model_name, "computed_at": now}
                    )
            for start in range(0, len(rows), 10_000):
                conn.execute(insert(modelled_values), rows[start : start + 10_000])
            stored = len(rows)
        reports.append(
            ModelReport(
                field=field,
                model=model_name,
                trained_on=len(labels),
                holdout_accuracy=round(accuracy, 4),
                baseline_accuracy=round(baseline, 4),
                scored=len(targets),
                stored=stored,
            )
        )
    details = {r.field: {"stored": r.stored, "holdout_accuracy": r.holdout_accuracy, "model": r.model} for r in reports}
    audit.record(conn, at=now, actor=actor, action="model.values", entity="customers", details=details)
    return reports
