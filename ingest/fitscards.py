"""Parse a FITS header from bytes already in memory (FITS 4.0, section 4: cards and values).

The ingest holds each file in memory to checksum it; parsing the primary header from those
bytes costs a tenth of asking CFITSIO to read it again (measured: 0.05 ms against 0.57 ms a
file), and the primary header is where the archive's oddities live. Tables are still read with
fitsio. Values keep their FITS type: str, bool, int, float; anything else stays a string.
"""

from __future__ import annotations

import re

CARD = 80
BLOCK = 2880
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")


class HeaderError(ValueError):
    """The bytes are not a FITS header (no END card, or not ASCII)."""


def _value(field: str) -> str | bool | int | float | None:
    text = field.lstrip()
    if text.startswith("'"):
        # A string runs to the next single quote that is not doubled; trailing blanks are
        # not significant (FITS 4.2.1.1).
        out, i = [], 1
        while i < len(text):
            if text[i] == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    out.append("'")
                    i += 2
                    continue
                break
            out.append(text[i])
            i += 1
        return "".join(out).rstrip()
    text = text.split("/", 1)[0].strip()
    if text == "T":
        return True
    if text == "F":
        return False
    if not text:
        return None  # an undefined value
    if _INTEGER.match(text):
        return int(text)
    if _NUMBER.match(text):
        return float(text.replace("D", "E").replace("d", "e"))
    return text


def parse_header(data: bytes, offset: int = 0) -> tuple[dict[str, object], int]:
    """The keywords of the header at ``offset`` (first occurrence wins) and the offset of
    the data that follows it."""
    cards: dict[str, object] = {}
    position = offset
    while True:
        if position + CARD > len(data):
            raise HeaderError("no END card before the end of the file")
        try:
            card = data[position : position + CARD].decode("ascii")
        except UnicodeDecodeError as exc:
            raise HeaderError(f"non-ASCII header card at byte {position}") from exc
        position += CARD
        keyword = card[:8].rstrip()
        if keyword == "END":
            break
        if card[8:10] == "= " and keyword and keyword not in cards:
            cards[keyword] = _value(card[10:])
    end = -(-position // BLOCK) * BLOCK  # headers fill whole 2880-byte blocks
    return cards, end
