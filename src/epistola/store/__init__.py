"""The operational store: schema, engines, migrations."""

from epistola.store.engine import check_connection, make_engine, redact, wrap_db_errors
from epistola.store.migrate import current_revision, head_revision, is_current, upgrade

__all__ = [
    "check_connection",
    "current_revision",
    "head_revision",
    "is_current",
    "make_engine",
    "redact",
    "upgrade",
    "wrap_db_errors",
]
