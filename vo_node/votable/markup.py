"""XML text and tag building for the streaming VOTable writer.

Every value that reaches the markup (names, descriptions, units, cell text, error messages) goes
through :func:`escape_text` or :func:`escape_attr`; tags are built by :func:`start_tag` and
:func:`element` from (name, value) pairs, never by formatting user values into markup.
A full XML tree library is not used because the writer emits one document in pieces, around a
data stream it never holds in memory. Must not import Flask or psycopg.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Characters XML 1.0 does not allow at all, not even as character references (XML 1.0,
# section 2.2): C0 controls other than tab, LF and CR; lone surrogates; U+FFFE and U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_TEXT_SPECIAL = re.compile("[&<>]")
# In attribute values, whitespace other than a space is normalised away by every parser
# (XML 1.0, section 3.3.3) unless written as a character reference.
_ATTR_SPECIAL = re.compile('[&<>"\t\n\r]')
_ENTITIES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\r": "&#13;",
}
REPLACEMENT = "\ufffd"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*\Z")


def _entity(match: re.Match[str]) -> str:
    return _ENTITIES[match.group()]


def xml_safe(text: str, replacement: str = REPLACEMENT) -> str:
    """``text`` with the characters XML cannot carry replaced (by U+FFFD unless told)."""
    return _NOT_XML.sub(replacement, text)


def escape_text(text: str, replacement: str = REPLACEMENT) -> str:
    """``text`` made safe as element content: markup characters escaped, characters XML
    cannot carry replaced."""
    return _TEXT_SPECIAL.sub(_entity, _NOT_XML.sub(replacement, text))


def has_forbidden(text: str) -> bool:
    """Whether ``text`` holds characters XML cannot carry (they will be replaced)."""
    return _NOT_XML.search(text) is not None


def needs_escape(text: str) -> bool:
    """Whether :func:`escape_text` would change ``text``; a fast test for whole columns."""
    return _TEXT_SPECIAL.search(text) is not None or _NOT_XML.search(text) is not None


def escape_attr(text: str) -> str:
    """``text`` made safe inside a double-quoted attribute value."""
    return _ATTR_SPECIAL.sub(_entity, _NOT_XML.sub(REPLACEMENT, text))


def is_ncname(text: str) -> bool:
    """Whether ``text`` is an XML NCName in the ASCII subset the writer emits as IDs."""
    return _NAME.match(text) is not None


def start_tag(
    name: str, attrs: Iterable[tuple[str, str | None]] = (), *, empty: bool = False
) -> str:
    """An opening (or, with ``empty``, self-closing) tag; attributes whose value is None are
    left out, the others escaped."""
    parts = [f"<{name}"]
    for key, value in attrs:
        if value is not None:
            parts.append(f' {key}="{escape_attr(value)}"')
    parts.append("/>" if empty else ">")
    return "".join(parts)


def element(
    name: str, attrs: Iterable[tuple[str, str | None]] = (), text: str | None = None
) -> str:
    """A whole element: self-closing when ``text`` is None, else with escaped content."""
    if text is None:
        return start_tag(name, attrs, empty=True)
    return f"{start_tag(name, attrs)}{escape_text(text)}</{name}>"
