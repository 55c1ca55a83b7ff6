"""bulk.Background: one write at a time in a second thread; its error surfaces where the caller waits."""

from __future__ import annotations

import threading

import pytest

from epistola.identity.bulk import Background


def test_writes_run_one_after_another_and_the_caller_waits_for_them() -> None:
    done: list[int] = []
    gate = threading.Event()
    with Background() as writing:
        writing.run(lambda: (gate.wait(5), done.append(1)))
        assert done == []  # still writing
        gate.set()
        writing.run(lambda: done.append(2))  # waits for the first
        assert done[0] == 1
    assert done == [1, 2]


def test_a_failed_write_is_raised_where_the_caller_waits() -> None:
    writing = Background()
    writing.run(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writing.wait()
    writing.wait()  # reported once


def test_when_the_caller_fails_the_write_still_finishes_first() -> None:
    finished = threading.Event()
    gate = threading.Event()

    def write() -> None:
        gate.wait(5)
        finished.set()

    with pytest.raises(KeyError), Background() as writing:
        writing.run(write)
        gate.set()
        raise KeyError("the caller's own error")
    assert finished.is_set()
