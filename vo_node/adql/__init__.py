"""ADQL 2.1 for the TAP service: parse -> allowlist -> resolve -> translate to PostgreSQL with
pgSphere.

``translate`` turns a query into one SELECT for PostgreSQL plus a description of its result
columns; ``check_syntax`` only parses and allowlists; ``FEATURES`` lists the optional
language features implemented, for TAPRegExt. Every rejection is an :class:`AdqlError` with
a line and column. Must not import Flask or psycopg.
"""

from __future__ import annotations

from vo_node.adql.errors import AdqlError
from vo_node.adql.features import FEATURES, LanguageFeature
from vo_node.adql.translate import OutputColumn, Translation, check_syntax, translate

__all__ = [
    "FEATURES",
    "AdqlError",
    "LanguageFeature",
    "OutputColumn",
    "Translation",
    "check_syntax",
    "translate",
]
