"""VOSI capabilities of the DataLink service: the {links} endpoint (DataLink 1.1)
and the SODA sync cut-out endpoint (SODA 1.0), each once per way in (anonymous, then per
accepted SSO method), and the VOSI siblings. Must not import Flask.
"""

from __future__ import annotations

from collections.abc import Sequence

from vo_node.datalink.descriptors import DATALINK_STANDARD_ID, LINKS_MIME, SODA_STANDARD_ID
from vo_node.http import capabilities as caps


def datalink_capabilities(base_url: str, security: Sequence[str] = ()) -> bytes:
    """The document served at ``{base_url}/capabilities`` (``base_url``: .../datalink)."""
    root = caps.root()
    links = caps.sub(root, "capability", standardID=DATALINK_STANDARD_ID)
    caps.interfaces(links, f"{base_url}/links", "full", role="std", security=security)
    for interface in links.iterfind("interface"):
        caps.sub(interface, "resultType", LINKS_MIME)
    soda = caps.sub(root, "capability", standardID=SODA_STANDARD_ID)
    caps.interfaces(soda, f"{base_url}/soda", "full", role="std", security=security)
    caps.vosi(
        root,
        base_url,
        [(caps.VOSI_CAPABILITIES, "capabilities"), (caps.VOSI_AVAILABILITY, "availability")],
    )
    return caps.serialize(root)
