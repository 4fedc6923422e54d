"""IN_UNIT (ADQL 2.1, unit operations) and the units of computed values, with astropy.units.

A value's unit comes from its column's declared VOUnit and follows the arithmetic (a
product of units, a quotient, a power); IN_UNIT then multiplies by the conversion factor
astropy computes, and refuses units that are unknown or incompatible. astropy is imported
only when a unit must actually be computed. Must not import Flask or psycopg.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

from sqlglot import exp

from vo_node.adql.datatypes import Value
from vo_node.adql.errors import error_at
from vo_node.adql.templates import double, number, paren


class UnitError(ValueError):
    """A unit string astropy cannot read, or two units that do not convert."""


@lru_cache(maxsize=512)
def _parse(text: str) -> Any:
    from astropy import units as u

    for form in ("vounit", "generic"):
        try:
            # Deprecated VOUnits (e.g. G) still convert; their warning is not for users.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return u.Unit(text, format=form)
        except ValueError:
            continue
    raise UnitError(f"'{text}' is not a unit")


@lru_cache(maxsize=512)
def factor(source: str, target: str) -> float:
    """The number a value in ``source`` units is multiplied by to be in ``target`` units."""
    from astropy import units as u

    try:
        return float(_parse(source).to(_parse(target)))
    except u.UnitConversionError as error:
        raise UnitError(f"'{source}' cannot be converted to '{target}'") from error


@lru_cache(maxsize=512)
def combine(operator: str, left: str | None, right: str | None) -> str | None:
    """The unit of ``left operator right`` ('*', '/'); None when a side's unit is unknown.

    An empty unit is a pure number.
    """
    if left is None or right is None:
        return None
    if right == "":
        return left
    if left == "" and operator == "*":
        return right
    try:
        a, b = _parse(left or "1"), _parse(right)
    except UnitError:
        return None
    return str((a * b if operator == "*" else a / b).to_string())


@lru_cache(maxsize=512)
def power(unit: str | None, exponent: float) -> str | None:
    """The unit of a value in ``unit`` raised to ``exponent``."""
    if unit is None:
        return None
    if unit == "":
        return ""
    try:
        return str((_parse(unit) ** exponent).to_string())
    except (UnitError, ValueError):
        return None


def in_unit(node: exp.Anonymous, value: Value, target: str) -> Value:
    """``IN_UNIT(value, 'target')``: the value scaled into ``target`` units."""
    if not value.is_number and value.datatype is not None:
        raise error_at(node, f"IN_UNIT converts numbers, not {value.datatype}")
    if value.unit is None:
        raise error_at(
            node,
            "IN_UNIT needs a value whose unit is known (a column with a declared unit, "
            "or arithmetic on such columns)",
        )
    if value.unit == "":
        raise error_at(node, "IN_UNIT: the value is a pure number, without a unit to convert")
    try:
        scale = factor(value.unit, target)
    except UnitError as error:
        raise error_at(node, f"IN_UNIT: {error}") from None
    sql = paren(exp.Mul(this=double(value.sql), expression=number(scale)))
    constant = None if value.constant is None else value.constant * scale
    return Value(sql, "double", target, None, None, constant)
