"""The life of a message, as a table: every legal move, and every other move refused."""

from __future__ import annotations

import itertools

import pytest

from epistola.delivery import (
    FINAL_STATES,
    LEASED_STATES,
    TRANSITIONS,
    MessageState,
    can_transition,
    require_transition,
)
from epistola.errors import Conflict

S = MessageState

LEGAL = {
    (S.QUEUED, S.RENDERING),  # claimed
    (S.QUEUED, S.CANCELLED),  # campaign cancelled
    (S.RENDERING, S.SENDING),  # composed, about to be handed over
    (S.RENDERING, S.QUEUED),  # given back: pause, stop, expired lease, composer hiccup
    (S.RENDERING, S.SUPPRESSED),  # no consent
    (S.RENDERING, S.FAILED),  # cannot be rendered, or out of attempts
    (S.RENDERING, S.CANCELLED),  # given back into a cancelled campaign
    (S.SENDING, S.SENT),
    (S.SENDING, S.QUEUED),  # definite 4xx, or never handed over before a stop
    (S.SENDING, S.FAILED),  # definite 5xx
    (S.SENDING, S.UNCERTAIN),  # no definite answer, or the worker vanished
    (S.SENDING, S.CANCELLED),  # 4xx while the campaign is cancelled
    (S.SENT, S.DELIVERED),
    (S.SENT, S.BOUNCED),
    (S.UNCERTAIN, S.DELIVERED),  # feedback settles what the worker could not know
    (S.UNCERTAIN, S.BOUNCED),
}


@pytest.mark.parametrize(("source", "target"), sorted(itertools.product(S, S)))
def test_transition_table(source: MessageState, target: MessageState) -> None:
    legal = (source, target) in LEGAL
    assert can_transition(source, target) is legal
    if legal:
        require_transition(source, target)
    else:
        with pytest.raises(Conflict, match=f"from '{source}' to '{target}'"):
            require_transition(source, target)


def test_every_state_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize("state", list(S))
def test_final_states_are_never_picked_up_again(state: MessageState) -> None:
    expected_final = state not in (S.QUEUED, S.RENDERING, S.SENDING)
    assert (state in FINAL_STATES) is expected_final
    if state in FINAL_STATES:
        assert not TRANSITIONS[state] & {S.QUEUED, S.RENDERING, S.SENDING}


def test_nothing_goes_back_to_sending_and_only_a_claim_leads_to_rendering() -> None:
    assert [s for s in S if can_transition(s, S.SENDING)] == [S.RENDERING]
    assert [s for s in S if can_transition(s, S.RENDERING)] == [S.QUEUED]
    assert LEASED_STATES == {S.RENDERING, S.SENDING}


def test_state_values_fit_the_column() -> None:
    assert max(len(s.value) for s in S) <= 12
