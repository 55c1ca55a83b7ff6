"""From scored pairs to people: the strongest links first, never across a person's 'no' and never into a
contradiction.

Plain connected components chain: A is linked to B and B to C, so A and C become one person even when
they disagree on their birth dates. Here links are taken strongest first (Kruskal's order), and a link
that would join two groups is skipped when a reviewer said two of their records are different people, or
when the groups carry different birth dates (beyond one mistyped digit) or different genders. Pairs a
reviewer accepted join first, whatever the model thinks.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter

from rapidfuzz.distance import DamerauLevenshtein

Pair = tuple[int, int]


@dataclass(kw_only=True, slots=True)
class _Group:
    members: list[int]
    births: set[str] = field(default_factory=set)
    genders: set[str] = field(default_factory=set)
    refused: set[int] = field(default_factory=set)  # records a reviewer said are someone else


@dataclass(frozen=True, kw_only=True, slots=True)
class Traits:
    """What clustering checks for contradictions: a record's birth date and gender when known."""

    birth: str | None = None
    gender: str | None = None


@dataclass(frozen=True, kw_only=True)
class Clustering:
    clusters: dict[int, int]  # record -> cluster id (the smallest record id in the cluster)
    links_used: list[tuple[int, int, float]]  # the links that joined records, with their probability
    skipped: int  # links above the threshold that would have made a contradiction


def _compatible(a: _Group, b: _Group) -> bool:
    if a.genders and b.genders and len(a.genders | b.genders) > 1:
        return False
    if a.births and b.births and a.births.isdisjoint(b.births):
        return any(DamerauLevenshtein.distance(x, y) <= 1 for x in a.births for y in b.births)
    return True


def compatible_traits(a: Iterable[Traits], b: Iterable[Traits]) -> bool:
    """Whether two groups of records could be one person (no clash of birth dates or genders)."""

    def group(items: Iterable[Traits]) -> _Group:
        g = _Group(members=[])
        for t in items:
            if t.birth:
                g.births.add(t.birth)
            if t.gender:
                g.genders.add(t.gender)
        return g

    return _compatible(group(a), group(b))


def cluster(
    records: Iterable[int],
    links: Iterable[tuple[int, int, float]],
    *,
    threshold: float,
    traits: Mapping[int, Traits] | None = None,
    must_link: Iterable[Pair] = (),
    cannot_link: Iterable[Pair] = (),
) -> Clustering:
    """Group `records`; `links` are (record, record, match probability), any order, any probability."""
    traits = traits or {}
    parent: dict[int, int] = {}
    groups: dict[int, _Group] = {}

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def group(root: int) -> _Group:
        """The group a root heads, made on first use: most records are never linked to anything."""
        g = groups.get(root)
        if g is None:
            g = groups[root] = _Group(members=[root])
            t = traits.get(root)
            if t is not None:
                if t.birth:
                    g.births.add(t.birth)
                if t.gender:
                    g.genders.add(t.gender)
        return g

    parent.update((rid, rid) for rid in records)
    for a, b in cannot_link:
        if a in parent and b in parent:
            group(a).refused.add(b)
            group(b).refused.add(a)

    def refuses(x: _Group, y_root: int) -> bool:
        return bool(x.refused) and any(find(r) == y_root for r in x.refused)

    def join(ra: int, rb: int, ga: _Group, gb: _Group) -> None:
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        g, h = (ga, gb) if keep == ra else (gb, ga)
        parent[gone] = keep
        del groups[gone]
        g.members.extend(h.members)
        g.births |= h.births
        g.genders |= h.genders
        g.refused |= h.refused

    used: list[tuple[int, int, float]] = []
    for a, b in must_link:
        if a in parent and b in parent:
            ra, rb = find(a), find(b)
            if ra != rb:
                join(ra, rb, group(ra), group(rb))
                used.append((a, b, 1.0))
    skipped = 0
    # strongest first, ties in record order: sorted by record, then (stably) by probability
    strong = [x for x in links if x[2] >= threshold]
    strong.sort(key=itemgetter(0, 1))
    strong.sort(key=itemgetter(2), reverse=True)
    for a, b, p in strong:
        if a not in parent or b not in parent:
            continue
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ga, gb = group(ra), group(rb)
        if refuses(ga, rb) or refuses(gb, ra) or not _compatible(ga, gb):
            skipped += 1
            continue
        join(ra, rb, ga, gb)
        used.append((a, b, p))
    clusters = {rid: root if (root := parent[rid]) == rid else find(rid) for rid in parent}
    return Clustering(clusters=clusters, links_used=used, skipped=skipped)


def members(clusters: Mapping[int, Hashable]) -> dict[Hashable, list[int]]:
    """cluster id -> its records, each list sorted."""
    out: dict[Hashable, list[int]] = {}
    for rid, cid in clusters.items():
        out.setdefault(cid, []).append(rid)
    for rids in out.values():
        rids.sort()
    return out
