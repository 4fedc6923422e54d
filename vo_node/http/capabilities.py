"""Building VOSI capabilities documents (VOSI 1.1, VOResource 1.1): the pieces every service's
``/capabilities`` shares, so that TAP, SSA and DataLink describe their interfaces alike and the
registry (issue 6) can reuse them. Plain lxml; must not import Flask.
"""

from __future__ import annotations

from collections.abc import Sequence

from lxml import etree

VOSI_CAP = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
VR = "http://www.ivoa.net/xml/VOResource/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
TYPE = f"{{{XSI}}}type"
VOSI_CAPABILITIES = "ivo://ivoa.net/std/VOSI#capabilities"
VOSI_AVAILABILITY = "ivo://ivoa.net/std/VOSI#availability"


def sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        element.text = text
    return element


def root(extra: dict[str, str] | None = None) -> etree._Element:
    """An empty ``vosi:capabilities`` element with the common namespaces and ``extra``."""
    nsmap = {"vosi": VOSI_CAP, "vr": VR, "vs": VS, "xsi": XSI, **(extra or {})}
    return etree.Element(f"{{{VOSI_CAP}}}capabilities", nsmap=nsmap)


def interfaces(
    parent: etree._Element,
    url: str,
    use: str,
    role: str | None = None,
    security: Sequence[str] = (),
    version: str | None = None,
) -> None:
    """The ParamHTTP interface at ``url``: once without a securityMethod (anonymous), then once
    per accepted IVOA SSO method. VOResource 1.1 allows one securityMethod per interface; a
    client picks the interface whose method it can use (pyvo's AuthSession merges them)."""
    attrs = {TYPE: "vs:ParamHTTP"}
    if role:
        attrs["role"] = role
    if version:
        attrs["version"] = version
    for method in (None, *security):
        interface = sub(parent, "interface", **attrs)
        sub(interface, "accessURL", url, use=use)
        if method is not None:
            sub(interface, "securityMethod", standardID=method)


def vosi(parent: etree._Element, base_url: str, endpoints: Sequence[tuple[str, str]]) -> None:
    """VOSI capabilities of the service's sibling endpoints: (standardID, path) pairs."""
    for standard, path in endpoints:
        capability = sub(parent, "capability", standardID=standard)
        interfaces(capability, f"{base_url}/{path}", "full")


def serialize(document: etree._Element) -> bytes:
    return bytes(
        etree.tostring(document, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    )
