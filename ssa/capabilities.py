"""The SSA service's VOSI capabilities (VOSI 1.1) with its SimpleDALRegExt description
(SimpleDALRegExt 1.1, section 4: the ``ssa:SimpleSpectralAccess`` capability).

Limits come from the settings, the test query from the caller (a position known to hold
public data), the security methods from the authenticator, as for TAP. The same builder can
serve the registry record of the service. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ssa.params import MAX_SIZE
from vo_node.http import capabilities as caps
from vo_node.http.capabilities import TYPE, sub

SSAP = "http://www.ivoa.net/xml/SSA/v1.1"
STANDARD_ID = "ivo://ivoa.net/std/SSA#v1.1"


@dataclass(frozen=True)
class SsaLimits:
    """What the service advertises about its limits and its test query (degrees, rows)."""

    maxrec_default: int
    maxrec_hard: int
    test_pos: tuple[float, float] | None = None  # a position with public data, if any
    test_size: float = 0.01


def ssa_capabilities(base_url: str, limits: SsaLimits, security: Sequence[str] = ()) -> bytes:
    """The document served at ``{base_url}/capabilities``."""
    root = caps.root({"ssa": SSAP})
    ssa = sub(root, "capability", standardID=STANDARD_ID, **{TYPE: "ssa:SimpleSpectralAccess"})
    # queryData answers at the base URL with ?REQUEST=queryData&... (SSA 1.1 section 8.1).
    caps.interfaces(ssa, base_url, "base", role="std", security=security, version="1.1")
    sub(ssa, "complianceLevel", "query")  # no Spectrum-DM serialisations of the datasets
    sub(ssa, "dataSource", "survey")
    sub(ssa, "creationType", "archival")
    sub(ssa, "supportedFrame", "ICRS")
    sub(ssa, "maxSearchRadius", repr(MAX_SIZE / 2))
    sub(ssa, "maxRecords", str(limits.maxrec_hard))
    sub(ssa, "defaultMaxRecords", str(limits.maxrec_default))
    if limits.test_pos is not None:
        test = sub(ssa, "testQuery")
        pos = sub(test, "pos")
        sub(pos, "long", repr(limits.test_pos[0]))
        sub(pos, "lat", repr(limits.test_pos[1]))
        sub(pos, "refframe", "ICRS")
        sub(test, "size", repr(limits.test_size))
        sub(test, "queryDataCmd", "REQUEST=queryData&FORMAT=all")
    caps.vosi(
        root,
        base_url,
        [(caps.VOSI_CAPABILITIES, "capabilities"), (caps.VOSI_AVAILABILITY, "availability")],
    )
    return caps.serialize(root)
