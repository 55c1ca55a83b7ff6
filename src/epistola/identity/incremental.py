"""Matching one new or changed record against the customers already there, without re-running the base.

Candidates are the stored records that share a block with the new one under the batch run's own blocking
rules (`splink_backend.BLOCKING_RULES`, each read both ways), found on the stored keys' indexes; they are
scored in Python with the stored model (the same arithmetic as Splink's batch run), and the record joins
the best customer when the pair is as sure as a batch merge would need, or starts a new customer;
uncertain pairs go to the review queue. A decision a person made about the record wins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from epistola import audit
from epistola.consent.ledger import ConsentEntry, append_entries
from epistola.consent.ledger import standings as consent_standings
from epistola.consent.model import RESTRICTIVE, Standing, merge_standing
from epistola.errors import Conflict, NotFound
from epistola.identity import store
from epistola.identity.apply import new_customer, observed, rebuild_golden
from epistola.identity.clustering import Traits, compatible_traits
from epistola.identity.comparisons import AUTO_MERGE_EVIDENCE
from epistola.identity.features import features
from epistola.identity.labels import rows_for
from epistola.identity.matcher import Link
from epistola.identity.resolve import current_config
from epistola.identity.scoring import score
from epistola.identity.splink_backend import BLOCKING_RULES
from epistola.store.schema import identity_features, source_records, sources

# A safety valve per block: a placeholder value shared by thousands of records (a shop's own phone number)
# would otherwise make one record's match read them all.
CANDIDATES_PER_BLOCK = 500


@dataclass(frozen=True, kw_only=True)
class Matched:
    record_id: int
    customer_id: int
    action: str  # joined | created | unchanged
    probability: float | None  # of the link that decided it
    candidates: int
    review: int
    absorbed: tuple[int, ...] = ()  # other customers merged in: the record showed they are the same person


def match_record(conn: Connection, record_id: int, *, now: datetime, actor: str = "system") -> Matched:
    """Find (or make) the customer of one record."""
    found = conn.execute(
        select(source_records.c.normalized, source_records.c.customer_id, source_records.c.missing_since).where(
            source_records.c.id == record_id
        )
    ).first()
    if found is None or found.missing_since is not None:
        raise NotFound(f"no active source record {record_id}")
    config, params, version = current_config(conn)
    if params is None:
        raise Conflict("there is no trained identity model yet", hint="run `epistola customers resolve` once first")
    row = features(record_id, found.normalized)
    store.save_features(conn, [row], now)
    ids = candidate_ids(conn, row)
    others = rows_for(store.load_features(conn, ids), set(ids))
    owner = _owners(conn, list(others))
    decided = store.decisions_for(conn, [record_id])
    refused = {
        d["record_l"] if d["record_r"] == record_id else d["record_r"] for d in decided if d["decision"] == "no_match"
    }
    accepted = {
        d["record_l"] if d["record_r"] == record_id else d["record_r"] for d in decided if d["decision"] == "match"
    }
    frequencies = store.Frequencies(conn, params.trained.get("non_null_share"))
    best: dict[int, tuple[float, float, int]] = {}  # customer -> (probability, weight, record)
    review: list[Link] = []
    refused_customers = {owner[r] for r in refused if r in owner}
    # a batch run checks a link against every record of the group it would join, not only the candidates
    traits_of = _traits(conn, set(owner.values()), besides=record_id)
    mine = Traits(birth=row["dob"], gender=row["gender"])
    for rid, other in others.items():
        customer = owner.get(rid)
        if customer is None or customer in refused_customers:
            continue
        s = score(row, other, params, frequencies)
        p = s.probability
        if rid in accepted:
            p = 1.0
        ok = rid in accepted or (
            p >= config.match.auto_threshold
            and AUTO_MERGE_EVIDENCE.py(row, other)
            and compatible_traits([mine], traits_of[customer])
        )
        if ok and (customer not in best or p > best[customer][0]):
            best[customer] = (p, s.weight, rid)
        elif not ok and p >= config.match.review_threshold:
            review.append(Link(left=record_id, right=rid, probability=p, weight=s.weight, reason="model"))
    current = found.customer_id
    action = "unchanged"
    chosen_p: float | None = None
    absorbed: list[int] = []
    if best:
        chosen = max(best, key=lambda c: (best[c][0], -c))
        chosen_p, weight, partner = best[chosen]
        if current != chosen and (current is None or store.records_of(conn, current) == [record_id]):
            if current is not None:  # a customer of this record alone: it is the same person as `chosen`
                from epistola.identity.merging import merge

                merge(conn, chosen, current, now=now, actor=actor, note="incremental match")
            else:
                store.relink_records(conn, {record_id: chosen})
                rebuild_golden(conn, chosen, now=now, policy=config.survivorship)
                _carry(conn, record_id, chosen, now, joined=True)
            action = "joined"
            current = chosen
            store.add_links(
                conn,
                [Link(left=record_id, right=partner, probability=chosen_p, weight=weight, reason="model")],
                kind="merge",
                version=version,
                now=now,
            )
        elif current == chosen:
            rebuild_golden(conn, chosen, now=now, policy=config.survivorship)
        if current == chosen:
            links, left_apart = _absorb(
                conn, record_id, chosen, best, [mine, *traits_of[chosen]], traits_of, now=now, actor=actor
            )
            absorbed = [owner[x.right] for x in links]
            store.add_links(conn, links, kind="merge", version=version, now=now)
            review.extend(left_apart)
    if current is None:
        current = new_customer(conn, [record_id], now=now, policy=config.survivorship)
        _carry(conn, record_id, current, now, joined=False)
        action = "created"
    review = [x for x in review if owner.get(x.right) not in (current, *absorbed)]
    store.add_links(conn, review, kind="review", version=version, now=now)
    audit.record(
        conn,
        at=now,
        actor=actor,
        action="identity.match",
        entity="source_record",
        entity_id=record_id,
        details={
            "customer": current,
            "action": action,
            "candidates": len(others),
            "review": len(review),
            "absorbed": absorbed,
        },
    )
    return Matched(
        record_id=record_id,
        customer_id=int(current),
        action=action,
        probability=chosen_p,
        candidates=len(others),
        review=len(review),
        absorbed=tuple(absorbed),
    )


def blocks(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What another record must have to share a block with `row` in a batch run: each blocking rule read
    with `row` on the left and then on the right (Splink compares each pair once, in one order, and the
    rules that are not symmetric come with their mirror image), without rules a missing value rules out."""
    out: list[dict[str, Any]] = []
    for rule in BLOCKING_RULES:
        for equal in (rule, tuple((b, a) for a, b in rule)):
            wanted = {other: row[mine] for mine, other in equal}
            if all(v is not None for v in wanted.values()) and wanted not in out:
                out.append(wanted)
    return out


def candidate_ids(conn: Connection, row: Mapping[str, Any], *, limit: int = CANDIDATES_PER_BLOCK) -> list[int]:
    """Active records sharing a block with `row` (its own id excluded), a lookup per block on the stored
    keys' indexes (one statement for all blocks, a UNION, measured slower on SQLite)."""
    f = identity_features
    found: set[int] = set()
    for wanted in blocks(row):
        ids = conn.execute(
            select(f.c.source_record_id)
            .join(source_records, source_records.c.id == f.c.source_record_id)
            .where(
                *(f.c[column] == value for column, value in wanted.items()),
                source_records.c.missing_since.is_(None),
                f.c.source_record_id != row["record_id"],
            )
            .limit(limit)
        ).scalars()
        found.update(int(i) for i in ids)
    return sorted(found)


def _absorb(
    conn: Connection,
    record_id: int,
    keeper: int,
    sure: Mapping[int, tuple[float, float, int]],
    group: list[Traits],
    traits_of: Mapping[int, list[Traits]],
    *,
    now: datetime,
    actor: str,
) -> tuple[list[Link], list[Link]]:
    """The record is as sure a match for other customers as for its own: a batch run would join them too,
    strongest link first, unless their birth dates or genders clash or a person said two of their records
    are different people (those links wait in review instead). Returns (merge links, review links)."""
    from epistola.identity.merging import merge

    merged: list[Link] = []
    apart: list[Link] = []
    if len(sure) < 2:
        return merged, apart
    members = {record_id, *store.records_of(conn, keeper)}
    for customer in sorted(sure, key=lambda c: (-sure[c][0], c)):
        if customer == keeper:
            continue
        p, weight, partner = sure[customer]
        link = Link(left=record_id, right=partner, probability=p, weight=weight, reason="model")
        theirs = store.records_of(conn, customer)
        refused = any(
            d["decision"] == "no_match" and {d["record_l"], d["record_r"]} & members
            for d in store.decisions_for(conn, theirs)
        )
        if refused or not compatible_traits(group, traits_of[customer]):
            apart.append(link)
            continue
        merge(conn, keeper, customer, now=now, actor=actor, note=f"incremental match: record {record_id} is both")
        merged.append(link)
        members.update(theirs)
        group = [*group, *traits_of[customer]]
    return merged, apart


def _traits(conn: Connection, customer_ids: set[int], *, besides: int) -> dict[int, list[Traits]]:
    """The birth dates and genders of every active record of these customers (but `besides`)."""
    out: dict[int, list[Traits]] = defaultdict(list)
    f = identity_features
    for chunk in store.chunks(sorted(customer_ids)):
        rows = conn.execute(
            select(source_records.c.customer_id, f.c.dob, f.c.gender)
            .join(f, f.c.source_record_id == source_records.c.id)
            .where(
                source_records.c.customer_id.in_(chunk),
                source_records.c.missing_since.is_(None),
                source_records.c.id != besides,
            )
        )
        for customer, dob, gender in rows:
            out[int(customer)].append(Traits(birth=dob, gender=gender))
    return out


def _owners(conn: Connection, record_ids: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for chunk in store.chunks(sorted(record_ids)):
        rows = conn.execute(
            select(source_records.c.id, source_records.c.customer_id).where(
                source_records.c.id.in_(chunk), source_records.c.customer_id.is_not(None)
            )
        )
        out.update({int(r): int(c) for r, c in rows})
    return out


def _carry(conn: Connection, record_id: int, customer_id: int, now: datetime, *, joined: bool) -> int:
    """The record's consent statements go to its customer's ledger; joining an existing customer never
    widens what that customer had (a refusal on either side wins)."""
    found = conn.execute(
        select(source_records.c.normalized, source_records.c.updated_at, sources.c.name)
        .join(sources, sources.c.id == source_records.c.source_id)
        .where(source_records.c.id == record_id)
    ).first()
    if found is None:
        return 0
    norm, seen, source = found
    stated = norm.get("consents") or {}
    before = consent_standings(conn, [customer_id], now=now) if joined else {}
    entries = [
        ConsentEntry(
            customer_id=customer_id,
            channel=channel,
            purpose=said["purpose"],
            status=said["status"],
            source=source,
            recorded_at=observed(norm, seen),
            proof={"kind": "source_record", "source_record_id": record_id, "imported_at": now.isoformat()},
        )
        for channel, said in stated.items()
    ]
    for channel, said in stated.items():
        had = before.get((customer_id, channel, said["purpose"]))
        merged = merge_standing([had, Standing(status=said["status"])])
        if had is not None and merged is not None and merged.status in RESTRICTIVE and said["status"] == "granted":
            entries.append(
                ConsentEntry(
                    customer_id=customer_id,
                    channel=channel,
                    purpose=said["purpose"],
                    status=merged.status,
                    source="merge",
                    recorded_at=now,
                    proof={"kind": "merge", "customer": customer_id, "record": record_id},
                )
            )
    append_entries(conn, entries)
    return len(entries)
