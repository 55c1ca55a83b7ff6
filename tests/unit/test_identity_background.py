"""bulk.Background: writes run one after another in a second thread; their errors surface where the
caller waits; a failing caller lets the running write finish and drops the rest."""

from __future__ import annotations

import threading

import pytest

from epistola.identity.bulk import Background


def test_writes_run_in_order_while_the_caller_goes_on() -> None:
    done: list[int] = []
    gate = threading.Event()
    with Background() as writing:
        writing.run(lambda: (gate.wait(5), done.append(1)))
        writing.run(lambda: done.append(2))
        assert done == []  # the caller was not held up
        gate.set()
        writing.wait()
        assert done == [1, 2]
        writing.run(lambda: done.append(3))
    assert done == [1, 2, 3]  # leaving waits for the last one


def test_a_failed_write_is_raised_where_the_caller_waits_and_the_next_ones_are_skipped() -> None:
    done: list[int] = []
    with Background() as writing:
        writing.run(lambda: 1 / 0)
        writing.run(lambda: done.append(1))
        with pytest.raises(ZeroDivisionError):
            writing.wait()
        writing.wait()  # reported once
        assert done == []
        writing.run(lambda: done.append(2))  # a write after the caller has seen the error runs
    assert done == [2]


def test_when_the_caller_fails_the_running_write_finishes_and_the_rest_are_dropped() -> None:
    done: list[int] = []
    started, gate = threading.Event(), threading.Event()

    def first() -> None:
        started.set()
        gate.wait(5)
        done.append(1)

    with pytest.raises(KeyError), Background() as writing:
        writing.run(first)
        writing.run(lambda: done.append(2))
        assert started.wait(5)
        threading.Timer(0.2, gate.set).start()  # the first write ends well after the caller failed
        raise KeyError("the caller's own error")
    assert done == [1]  # the running write finished before the error went on; the next was dropped
