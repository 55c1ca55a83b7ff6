"""Clustering takes the strongest links first and never joins groups that contradict each other or that
a person has kept apart; pairs a person accepted join first."""

from __future__ import annotations

import pytest

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
