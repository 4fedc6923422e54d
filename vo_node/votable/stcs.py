"""DALI geometry arrays as STC-S strings, for columns published with xtype adql:REGION.

ObsCore 1.1 (and TAP 1.0 before DALI 1.1) types ``s_region`` as an ADQL region serialised as
STC-S (IVOA Note "STC-S: Space-Time Coordinate Metadata Linear String Implementation"):
``Position ICRS ra dec``, ``Circle ICRS ra dec radius``, ``Polygon ICRS ra1 dec1 ra2 dec2 ...``,
degrees throughout. The translator hands such columns over as DALI arrays in degrees (the
form every other geometry leaves a query in); every writer turns them into these strings here,
so that all formats write the same text. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from vo_node.votable.values import VOTABLE_SPECIALS, float_text

# DALI geometry kind -> STC-S shape keyword and how many numbers it takes (None: an even
# number, at least six, for a polygon's vertices).
_SHAPES: dict[str, tuple[str, int | None]] = {
    "point": ("Position", 2),
    "circle": ("Circle", 3),
    "polygon": ("Polygon", None),
}
KINDS = frozenset(_SHAPES)
FRAME = "ICRS"


def stcs_text(kind: str, numbers: Sequence[object]) -> str:
    """The STC-S string of a DALI ``kind`` ('point', 'circle', 'polygon') given as its
    array of numbers in degrees. A wrong count of numbers is refused: the string would
    describe another shape, or none."""
    keyword, count = _SHAPES[kind]
    size = len(numbers)
    if (count is not None and size != count) or (count is None and (size < 6 or size % 2)):
        raise ValueError(f"a DALI {kind} cannot have {size} values")
    coordinates = " ".join(float_text(cast(float, n), VOTABLE_SPECIALS) for n in numbers)
    return f"{keyword} {FRAME} {coordinates}"


def stcs_texts(kind: str, values: list[object]) -> list[object]:
    """A column of DALI arrays as STC-S strings; None (null) and strings stay as they are."""
    return [
        v if v is None or isinstance(v, str) else stcs_text(kind, cast(Sequence[object], v))
        for v in values
    ]
