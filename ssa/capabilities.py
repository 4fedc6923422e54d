"""The SSA service's VOSI capabilities (VOSI 1.1) with its SimpleDALRegExt description
(SimpleDALRegExt 1.1, section 4: the ``ssa:SimpleSpectralAccess`` capability).

Limits come from the settings, the test query from the caller (a position known to hold
public data), the security methods from the authenticator, as for TAP. The same builder can
serve the registry record of the service. Must not import Flask or psycopg.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from ssa.params import MAX_SIZE

VOSI_CAP = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
VR = "http://www.ivoa.net/xml/VOResource/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
SSAP = "http://www.ivoa.net/xml/SSA/v1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"vosi": VOSI_CAP, "vr": VR, "vs": VS, "ssa": SSAP, "xsi": XSI}
STANDARD_ID = "ivo://ivoa.net/std/SSA#v1.1"
_TYPE = f"{{{XSI}}}type"


@dataclass(frozen=True)
class SsaLimits:
    """What the service advertises about its limits and its test query (degrees, rows)."""

    maxrec_default: int
    maxrec_hard: int
    test_pos: tuple[float, float] | None = None  # a position with public data, if any
    test_size: float = 0.01


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        element.text = text
    return element


def _interface(parent: etree._Element, url: str, use: str, role: str | None) -> etree._Element:
    attrs = {_TYPE: "vs:ParamHTTP"}
    if role:
        attrs["role"] = role
        attrs["version"] = "1.1"
    interface = _sub(parent, "interface", **attrs)
    _sub(interface, "accessURL", url, use=use)
    return interface


def _secured(parent: etree._Element, url: str, security: Sequence[str]) -> None:
    """The standard interface once per way in: anonymous (no securityMethod), then one per
    IVOA SSO method. VOResource 1.1 allows one securityMethod per interface (its schema:
    maxOccurs=1); a client picks the interface whose method it can use."""
    _interface(parent, url, "base", "std")
    for method in security:
        interface = _interface(parent, url, "base", "std")
        _sub(interface, "securityMethod", standardID=method)


def ssa_capabilities(base_url: str, limits: SsaLimits, security: Sequence[str] = ()) -> bytes:
    """The document served at ``{base_url}/capabilities``."""
    root = etree.Element(f"{{{VOSI_CAP}}}capabilities", nsmap=NSMAP)
    ssa = _sub(root, "capability", standardID=STANDARD_ID, **{_TYPE: "ssa:SimpleSpectralAccess"})
    # queryData answers at the base URL with ?REQUEST=queryData&... (SSA 1.1 section 8.1).
    _secured(ssa, base_url, security)
    _sub(ssa, "complianceLevel", "query")  # no Spectrum-DM serialisations of the datasets
    _sub(ssa, "dataSource", "survey")
    _sub(ssa, "creationType", "archival")
    _sub(ssa, "supportedFrame", "ICRS")
    _sub(ssa, "maxSearchRadius", repr(MAX_SIZE / 2))
    _sub(ssa, "maxRecords", str(limits.maxrec_hard))
    _sub(ssa, "defaultMaxRecords", str(limits.maxrec_default))
    if limits.test_pos is not None:
        test = _sub(ssa, "testQuery")
        pos = _sub(test, "pos")
        _sub(pos, "long", repr(limits.test_pos[0]))
        _sub(pos, "lat", repr(limits.test_pos[1]))
        _sub(pos, "refframe", "ICRS")
        _sub(test, "size", repr(limits.test_size))
        _sub(test, "queryDataCmd", "REQUEST=queryData&FORMAT=all")
    for standard, path in (
        ("ivo://ivoa.net/std/VOSI#capabilities", "capabilities"),
        ("ivo://ivoa.net/std/VOSI#availability", "availability"),
    ):
        capability = _sub(root, "capability", standardID=standard)
        _interface(capability, f"{base_url}/{path}", "full", None)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
