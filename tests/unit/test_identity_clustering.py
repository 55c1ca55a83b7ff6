"""Clustering takes the strongest links first and never joins groups that contradict each other or that
a person has kept apart; pairs a person accepted join first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from epistola.identity.clustering import Traits, cluster, members


def groups(result: dict[int, int]) -> list[list[int]]:
    return sorted(members(result).values())


@pytest.mark.parametrize(
    ("links", "traits", "expected"),
    [
        # plain threshold: the weak link stays out
        ([(1, 2, 0.99), (2, 3, 0.5)], {}, [[1, 2], [3]]),
        # a chain through B would make A and C one person although their birth dates differ
        (
            [(1, 2, 0.99), (2, 3, 0.95)],
            {1: Traits(birth="1980-01-01"), 3: Traits(birth="1991-07-30")},
            [[1, 2], [3]],
        ),
        # one mistyped digit is not a contradiction
        (
            [(1, 2, 0.99), (2, 3, 0.95)],
            {1: Traits(birth="1980-01-01"), 3: Traits(birth="1980-01-07")},
            [[1, 2, 3]],
        ),
        # genders disagree: the stronger link wins, the weaker is refused
        ([(1, 2, 0.9), (1, 3, 0.97)], {2: Traits(gender="f"), 3: Traits(gender="m")}, [[1, 3], [2]]),
    ],
)
def test_strongest_links_first_without_contradictions(
    links: list[tuple[int, int, float]], traits: dict[int, Traits], expected: list[list[int]]
) -> None:
    result = cluster([1, 2, 3], links, threshold=0.8, traits=traits)
    assert groups(result.clusters) == expected


def test_a_reviewers_no_holds_across_the_whole_group() -> None:
    # 1-2 and 3-4 are strong; 2-3 would join the groups, but a person said record 1 is not record 4
    links = [(1, 2, 0.99), (3, 4, 0.99), (2, 3, 0.95)]
    result = cluster([1, 2, 3, 4], links, threshold=0.8, cannot_link=[(4, 1)])
    assert groups(result.clusters) == [[1, 2], [3, 4]]
    assert result.skipped == 1


def test_a_reviewers_yes_joins_whatever_the_model_says() -> None:
    result = cluster([1, 2, 3], [(1, 2, 0.1)], threshold=0.8, must_link=[(1, 3)])
    assert groups(result.clusters) == [[1, 3], [2]]
    assert (1, 3, 1.0) in result.links_used


def test_cluster_ids_are_the_smallest_record() -> None:
    result = cluster([5, 9, 7], [(9, 7, 0.9), (5, 7, 0.85)], threshold=0.8)
    assert set(result.clusters.values()) == {5}


def _reference(
    records: list[int],
    links: list[tuple[int, int, float]],
    threshold: float,
    traits: dict[int, Traits],
    must_link: list[tuple[int, int]],
    cannot_link: list[tuple[int, int]],
) -> tuple[dict[int, int], list[tuple[int, int, float]], int]:
    """The rules written out plainly: groups as sets, merged strongest link first (ties in record order)."""
    from rapidfuzz.distance import DamerauLevenshtein

    group = {r: frozenset([r]) for r in records}
    no = {frozenset(p) for p in cannot_link}

    def fits(x: frozenset[int], y: frozenset[int]) -> bool:
        if any(frozenset((a, b)) in no for a in x for b in y):
            return False
        gx = {traits[r].gender for r in x if r in traits and traits[r].gender}
        gy = {traits[r].gender for r in y if r in traits and traits[r].gender}
        bx = {b for r in x if r in traits and (b := traits[r].birth)}
        by = {b for r in y if r in traits and (b := traits[r].birth)}
        if gx and gy and len(gx | gy) > 1:  # (a person's yes may have joined two genders already)
            return False
        if bx and by and bx.isdisjoint(by):
            return any(DamerauLevenshtein.distance(p, q) <= 1 for p in bx for q in by)
        return True

    def merge(x: frozenset[int], y: frozenset[int]) -> None:
        for r in x | y:
            group[r] = x | y

    used, skipped = [], 0
    for a, b in must_link:
        if a in group and b in group and group[a] != group[b]:
            merge(group[a], group[b])
            used.append((a, b, 1.0))
    for a, b, p in sorted((x for x in links if x[2] >= threshold), key=lambda x: (-x[2], x[0], x[1])):
        if a not in group or b not in group or group[a] == group[b]:
            continue
        if not fits(group[a], group[b]):
            skipped += 1
            continue
        merge(group[a], group[b])
        used.append((a, b, p))
    return {r: min(g) for r, g in group.items()}, used, skipped


@given(data=st.data())
@settings(max_examples=300, deadline=None)
def test_clustering_follows_the_rules_written_out(data: st.DataObject) -> None:
    records = list(range(1, data.draw(st.integers(2, 12)) + 1))
    pair = st.tuples(st.sampled_from(records), st.sampled_from(records)).filter(lambda p: p[0] != p[1])
    links = [(a, b, p) for (a, b), p in data.draw(st.lists(st.tuples(pair, st.sampled_from([0.5, 0.85, 0.9, 0.99]))))]
    traits = data.draw(
        st.dictionaries(
            st.sampled_from(records),
            st.builds(
                Traits,
                birth=st.sampled_from([None, "1980-01-01", "1980-01-07", "1991-07-30"]),
                gender=st.sampled_from([None, "f", "m"]),
            ),
        )
    )
    must = data.draw(st.lists(pair, max_size=2))
    cannot = data.draw(st.lists(pair, max_size=2))
    result = cluster(records, links, threshold=0.8, traits=traits, must_link=must, cannot_link=cannot)
    clusters, used, skipped = _reference(records, links, 0.8, traits, must, cannot)
    assert result.clusters == clusters
    assert result.links_used == used
    assert result.skipped == skipped
