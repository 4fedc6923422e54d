"""Python values as result text: DALI timestamps, VOTable spellings of special floats, and the
string form of anything a text column may receive from the database driver.

Shared by the TABLEDATA and BINARY2 encoders and the CSV/TSV/JSON writers so that every format
writes the same value the same way. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from operator import index
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from vo_node.votable.fields import FieldSpec

# Converters for columns of plain objects: as_int takes integers (bool included) and refuses
# floats, strings and None; as_float takes any number, Decimal included. Both run at C speed.
as_int = cast(Callable[[object], int], index)
as_float = cast(Callable[[object], float], float)

# VOTable 1.4: how TABLEDATA spells the special floating-point values; repr()
# spells them 'nan', 'inf', '-inf'.
VOTABLE_SPECIALS = {"nan": "NaN", "inf": "+Inf", "-inf": "-Inf"}
# In CSV/TSV the spellings both Python's float() and Java's Double.parseDouble (TOPCAT) read.
TEXT_SPECIALS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def timestamp_text(value: datetime | date) -> str:
    """A DALI 1.1 timestamp (section 3.3.3): ISO 8601 in UTC without a zone suffix,
    'YYYY-MM-DDThh:mm:ss[.ffffff]'; a date alone stays 'YYYY-MM-DD'. Aware datetimes
    (timestamptz) are converted to UTC; naive ones are taken to be UTC already."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat()
    return value.isoformat()


def text_of(value: object) -> str:
    """The string a text column writes for a non-null value of any driver type."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime | date):
        return timestamp_text(value)
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return float_text(value, VOTABLE_SPECIALS)
    if isinstance(value, bytes):
        # bytea has no VOTable type; hex keeps it printable and unambiguous.
        return value.hex()
    return str(value)


def float_text(value: float | int | Decimal, specials: dict[str, str]) -> str:
    """The shortest text that reads back as the same double, special values spelled by
    ``specials`` (:data:`VOTABLE_SPECIALS` or :data:`TEXT_SPECIALS`)."""
    text = repr(float(value))
    return specials.get(text, text)


@dataclass
class TextNotes:
    """Counts of text values a writer had to change, reported to the client as warnings."""

    replaced: int = 0  # values with characters their datatype cannot carry (char is ASCII)
    truncated: int = 0  # values longer than a fixed or bounded arraysize

    def add(self, other: TextNotes) -> None:
        """Count ``other``'s changes too."""
        self.replaced += other.replaced
        self.truncated += other.truncated

    def warnings(self) -> list[str]:
        """Sentences for the client, one per kind of change made."""
        found = []
        if self.replaced:
            found.append(
                f"{self.replaced} text values had characters their column cannot carry "
                "replaced: non-ASCII in datatype char (by '?'), or characters XML forbids"
            )
        if self.truncated:
            found.append(f"{self.truncated} text values were cut to their column's arraysize")
        return found


def check_array_lengths(spec: FieldSpec, shortest: int, longest: int) -> None:
    """Refuse arrays whose lengths (from ``shortest`` to ``longest`` in a batch) contradict
    the field's arraysize: a fixed length must be met exactly, a bound ('N*') not exceeded.
    Cutting arrays would silently lose data."""
    if spec.length is None:
        return
    if spec.variable and longest > spec.length:
        raise ValueError(f"field {spec.name}: an array is longer than arraysize {spec.arraysize}")
    if not spec.variable and not shortest == longest == spec.length:
        raise ValueError(f"field {spec.name}: an array does not have length {spec.length}")
