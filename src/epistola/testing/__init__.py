"""Helpers for tests of Epistola and of code built on it: databases on both engines, fixed clocks."""

from epistola.testing.databases import PostgresUnavailable, TestDatabases
from epistola.testing.fakes import FixedClock

__all__ = ["FixedClock", "PostgresUnavailable", "TestDatabases"]
