"""Dataset identifiers as DataLink and SODA take them.

A product is named by its publisher DID, ``ivo://<authority>/corot?<product_id>`` (ObsCore's
``obs_publisher_did``, SSA's ``ssa_pubDID``; the ID of every service descriptor), or by its
bare ``product_id`` (the column of ``corot.products``; ObsCore's ``access_url`` uses it).
IVOA identifiers compare the authority and path case-insensitively (IVOA Identifiers 2.0);
the query part is ours, digits.
"""

from __future__ import annotations

import re

from vo_node.db.policy import MAX_ID

_NUMBER = re.compile(r"[0-9]{1,19}\Z")


def parse_id(text: str, did_base: str) -> int | None:
    """The product id ``text`` names, or None when it is not one of our identifiers (it may
    still name no product: the caller looks it up)."""
    text = text.strip()
    prefix = did_base + "?"
    if text[: len(prefix)].lower() == prefix.lower():
        text = text[len(prefix) :]
    if not _NUMBER.match(text):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def did(did_base: str, product_id: int) -> str:
    return f"{did_base}?{product_id}"
