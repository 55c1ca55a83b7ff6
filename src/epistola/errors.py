"""One exception hierarchy for the whole product.

Adapters translate driver errors (SQLAlchemy, SMTP, file I/O) into these; only the API and the CLI
turn them into HTTP statuses and exit codes, so the core never knows how it is being called.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One precise complaint about input: what is wrong and where (file, row, field)."""

    message: str
    file: str | None = None
    row: int | None = None
    field: str | None = None

    def where(self) -> str:
        parts = []
        if self.file:
            parts.append(self.file)
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.field:
            parts.append(f"field '{self.field}'")
        return ", ".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if v is not None}


class EpistolaError(Exception):
    """Base of every error Epistola raises on purpose."""

    http_status = 500
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.problems = tuple(problems)

    def __str__(self) -> str:
        lines = [self.message, *(f"  - {p}" for p in self.problems[:20])]
        if len(self.problems) > 20:
            lines.append(f"  … and {len(self.problems) - 20} more")
        return "\n".join(lines)


class ConfigError(EpistolaError):
    """A setting is missing, malformed or unsafe."""

    exit_code = 78  # EX_CONFIG


class StorageError(EpistolaError):
    """The database could not be reached or refused an operation."""

    http_status = 503
    exit_code = 74  # EX_IOERR


class InputError(EpistolaError):
    """Input (a file, a request, a definition) is invalid; `problems` says exactly where."""

    http_status = 400
    exit_code = 65  # EX_DATAERR


class NotFound(EpistolaError):
    http_status = 404
    exit_code = 66  # EX_NOINPUT


class Conflict(EpistolaError):
    """The operation clashes with the current state (already exists, wrong status)."""

    http_status = 409
    exit_code = 75  # EX_TEMPFAIL


class TemplateError(InputError):
    """A template is invalid or tried to leave the sandbox."""


class AuthError(EpistolaError):
    http_status = 401
    exit_code = 77  # EX_NOPERM


class Forbidden(AuthError):
    http_status = 403


class DeliveryError(EpistolaError):
    """A channel adapter could not hand a message over."""

    http_status = 502


class TransientDeliveryError(DeliveryError):
    """Worth retrying later (connection refused, 4xx SMTP reply, throttling)."""


class PermanentDeliveryError(DeliveryError):
    """Never retry (5xx SMTP reply for the recipient, invalid address)."""


class UncertainDeliveryError(DeliveryError):
    """The provider may or may not have accepted the message (e.g. a timeout after SMTP DATA)."""
