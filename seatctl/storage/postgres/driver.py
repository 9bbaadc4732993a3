"""psycopg, imported here and nowhere else: the SQLite path never pays for it, and a missing
optional extra is reported by `PostgresStore.open` rather than as an ImportError."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

try:
    import psycopg
except ImportError:  # the optional extra is not installed; `PostgresStore.open` says how to fix it
    psycopg = None  # type: ignore[assignment]

# psycopg logs a warning when a failed pipeline cannot be ended cleanly; with no logging set
# up, Python would print it on stderr beside seatctl's one error line, which already says what
# went wrong. A program that configures logging still receives it.
logging.getLogger("psycopg").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    Connection = psycopg.Connection[tuple[Any, ...]]

INSTALL_HINT = "pip install 'seatctl[postgres]'"

__all__ = ["INSTALL_HINT", "psycopg"]
