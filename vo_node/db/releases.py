"""Release dates: when the N2 and N3 products of a run, or one product, become public.

A product's own release date overrides its run's; none (NULL) means not released. The
distribution policy (migration 0006) compares them with today's date at every query, so a
change here takes effect at once, and a date passing needs nobody to act. Changes run as the
schema's owner (``vo-node release``), each in the caller's transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import psycopg

from vo_node.errors import NodeError

# Product ids are bigint; a larger number is simply no product.
MAX_ID = 2**63 - 1
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Products public to anyone by their release date (the policy's test, for the owner who is
# not subject to it): N2 and N3, with the product's date, else the run's, today or before.
_PUBLIC = "p.level IN ('N2', 'N3') AND coalesce(p.release_date, r.release_date) <= current_date"


class ReleaseError(NodeError):
    """A release date that cannot be set: unknown run or product, a date that is not one."""


def parse_day(text: str) -> date | None:
    """``YYYY-MM-DD``, or ``none`` (not released / no override of its own)."""
    if text.strip().lower() == "none":
        return None
    try:
        if not _DAY.match(text.strip()):
            raise ValueError(text)
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ReleaseError(
            f"bad release date {text!r}", hint="YYYY-MM-DD, or 'none' to clear it"
        ) from None


def _day(value: date | None) -> str:
    return value.isoformat() if value else "none"


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class RunRelease:
    """The change of a run's release date, and what it did to its N2/N3 products."""

    code: str
    before: date | None
    after: date | None
    products: int  # its N2/N3 products
    overridden: int  # ... of which have a release date of their own (unaffected)
    public_before: int
    public_after: int

    def line(self) -> str:
        moved = self.public_after - self.public_before
        effect = (
            f"{moved} made public"
            if moved > 0
            else f"{-moved} made proprietary"
            if moved < 0
            else "no change of visibility"
        )
        own = f"; {self.overridden} keep their own release date" if self.overridden else ""
        return (
            f"run {self.code}: release date {_day(self.after)} (was {_day(self.before)}); "
            f"N2/N3 products public: {self.public_after} of {self.products} "
            f"(was {self.public_before}): {effect}{own}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "run": self.code,
            "release_date": _iso(self.after),
            "was": _iso(self.before),
            "products": self.products,
            "own_release_date": self.overridden,
            "public": self.public_after,
            "public_before": self.public_before,
        }


@dataclass(frozen=True)
class ProductRelease:
    """The change of one product's own release date (the override of its run's)."""

    product_id: int
    level: str
    run: str
    run_date: date | None
    before: date | None
    after: date | None
    public_before: bool
    public_after: bool

    def line(self) -> str:
        def own(value: date | None) -> str:
            return value.isoformat() if value else f"none, the run's: {_day(self.run_date)}"

        if self.level not in ("N2", "N3"):
            state = f"{self.level}: release dates do not make it public (access groups only)"
        elif self.public_after != self.public_before:
            state = "made public" if self.public_after else "made proprietary"
        else:
            state = f"still {'public' if self.public_after else 'proprietary'}"
        return (
            f"product {self.product_id} ({self.level}, run {self.run}): release date "
            f"{own(self.after)} (was {own(self.before)}); {state}"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "product_id": self.product_id,
            "level": self.level,
            "run": self.run,
            "run_release_date": _iso(self.run_date),
            "release_date": _iso(self.after),
            "was": _iso(self.before),
            "public": self.public_after,
            "public_before": self.public_before,
        }


def _run_counts(conn: psycopg.Connection, run_id: int) -> tuple[int, int, int]:
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE p.release_date IS NOT NULL),"
        f" count(*) FILTER (WHERE {_PUBLIC})"
        " FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE p.run_id = %s AND p.level IN ('N2', 'N3')",
        (run_id,),
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def set_run_release(conn: psycopg.Connection, code: str, day: date | None) -> RunRelease:
    """Set (``None``: clear) the release date of the run ``code``."""
    rows = conn.execute(
        "SELECT run_id, mission, release_date FROM archive.runs WHERE code = %s FOR UPDATE",
        (code,),
    ).fetchall()
    if not rows:
        known = [r[0] for r in conn.execute("SELECT code FROM archive.runs ORDER BY code")]
        hint = f"known runs: {', '.join(known[:20])}{' ...' if len(known) > 20 else ''}"
        raise ReleaseError(f"no run {code!r}", hint=hint if known else "no runs ingested yet")
    if len(rows) > 1:
        missions = ", ".join(sorted(r[1] for r in rows))
        raise ReleaseError(f"run code {code!r} is ambiguous (missions: {missions})")
    run_id, _, before = rows[0]
    _, _, public_before = _run_counts(conn, run_id)
    conn.execute("UPDATE archive.runs SET release_date = %s WHERE run_id = %s", (day, run_id))
    products, overridden, public_after = _run_counts(conn, run_id)
    return RunRelease(code, before, day, products, overridden, public_before, public_after)


def _product_state(
    conn: psycopg.Connection, product_id: int
) -> tuple[str, str, date | None, date | None, bool] | None:
    """Level, run code, run's release date, own release date, public by its date."""
    row = conn.execute(
        "SELECT p.level, r.code, r.release_date, p.release_date,"
        f" coalesce({_PUBLIC}, false)"
        " FROM archive.products p JOIN archive.runs r USING (run_id)"
        " WHERE p.product_id = %s FOR UPDATE OF p",
        (product_id,),
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2], row[3], bool(row[4]))


def set_product_release(
    conn: psycopg.Connection, product_id: int, day: date | None
) -> ProductRelease:
    """Set (``None``: clear) a product's own release date, which overrides its run's."""
    before = _product_state(conn, product_id) if 0 < product_id <= MAX_ID else None
    if before is None:
        raise ReleaseError(f"no product {product_id}")
    conn.execute(
        "UPDATE archive.products SET release_date = %s WHERE product_id = %s", (day, product_id)
    )
    after = _product_state(conn, product_id)
    assert after is not None
    level, run, run_date, was, public_before = before
    return ProductRelease(product_id, level, run, run_date, was, day, public_before, after[4])
