"""How composer results and errors are sorted: one bad message stops only itself."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from epistola.delivery import ClaimedMessage, Envelope, Skip
from epistola.delivery.composing import compose_batch
from epistola.errors import InputError, PermanentDeliveryError, TemplateError


def claimed(n: int) -> ClaimedMessage:
    return ClaimedMessage(
        id=n, step_id=1, campaign_id=1, customer_id=100 + n, channel="email", recipient=f"c{n}@x.test", attempts=2
    )


class Scripted:
    """Answers from a script: message id -> "send" | "skip" | "omit" | an exception to raise."""

    def __init__(self, script: dict[int, object], *, extra: Sequence[Envelope | Skip] = ()) -> None:
        self.script = script
        self.extra = list(extra)
        self.calls: list[list[int]] = []

    def compose(self, messages: Sequence[ClaimedMessage]) -> list[Envelope | Skip]:
        self.calls.append([m.id for m in messages])
        out: list[Envelope | Skip] = list(self.extra)
        for m in messages:
            action = self.script.get(m.id, "send")
            if isinstance(action, Exception):
                raise action
            if action == "send":
                out.append(Envelope(message_id=m.id, sender="s@x.test", recipient=m.recipient or "", data=b"x"))
            elif action == "skip":
                out.append(Skip(message_id=m.id, reason="withdrawn consent"))
        return out


@pytest.mark.parametrize(
    ("script", "sent", "skipped", "retried", "failed"),
    [
        ({}, [1, 2, 3], [], [], []),
        ({2: "skip"}, [1, 3], [2], [], []),
        ({2: "omit"}, [1, 3], [], [2], []),  # no result: try again later, never silently dropped
        ({2: TemplateError("bad variable")}, [1, 3], [], [], [2]),  # can never render
        ({2: InputError("no address")}, [1, 3], [], [], [2]),
        ({2: PermanentDeliveryError("no")}, [1, 3], [], [], [2]),
        ({2: TimeoutError("db slow")}, [1, 3], [], [2], []),  # anything else is temporary
        ({1: RuntimeError("x"), 3: TemplateError("y")}, [2], [], [1], [3]),
    ],
)
def test_results_are_sorted_per_message(
    script: dict[int, object], sent: list[int], skipped: list[int], retried: list[int], failed: list[int]
) -> None:
    result = compose_batch(Scripted(script), [claimed(1), claimed(2), claimed(3)])
    assert [e.message_id for e in result.envelopes] == sent
    assert [s.message_id for s in result.skips] == skipped
    assert [r.message_id for r in result.retries] == retried
    assert [i for i, _ in result.failures] == failed
    assert all(r.attempt == 2 for r in result.retries)  # the attempt that failed, for the backoff


def test_a_batch_error_falls_back_to_one_by_one() -> None:
    composer = Scripted({2: TemplateError("bad")})
    compose_batch(composer, [claimed(1), claimed(2), claimed(3)])
    assert composer.calls == [[1, 2, 3], [1], [2], [3]]


def test_unknown_and_duplicate_results_are_ignored() -> None:
    stray = Envelope(message_id=99, sender="s", recipient="r", data=b"")
    result = compose_batch(Scripted({}, extra=[stray, Skip(message_id=1, reason="first word wins")]), [claimed(1)])
    assert result.skips == (Skip(message_id=1, reason="first word wins"),) and result.envelopes == ()
