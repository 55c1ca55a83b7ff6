"""The bulk event path's reading thread: items come in order, its errors reach the consumer, and a
consumer that stops early stops it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from epistola.hub.events_bulk import _Ahead, file_row


def test_items_come_prepared_and_in_order() -> None:
    ahead = _Ahead(iter(range(50)), lambda n: n * 10, ahead=2)
    try:
        assert list(ahead) == [n * 10 for n in range(50)]
    finally:
        ahead.close()


def test_an_error_while_reading_reaches_the_consumer_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("unreadable line")

    ahead = _Ahead(source(), lambda n: n)
    got: list[int] = []
    with pytest.raises(ValueError, match="unreadable line"):
        got.extend(ahead)
    ahead.close()
    assert got == [1, 2]


def test_closing_early_stops_the_reading_thread() -> None:
    def endless() -> Iterator[int]:
        n = 0
        while True:
            n += 1
            yield n

    ahead = _Ahead(endless(), lambda n: n, ahead=1)
    assert next(iter(ahead)) == 1
    ahead.close()  # returns only once the thread has ended
    assert not ahead._thread.is_alive()


def test_file_rows_count_past_the_malformed_ones() -> None:
    assert [file_row(p, [2, 3, 7]) for p in (1, 2, 3, 4, 5)] == [1, 4, 5, 6, 8]
