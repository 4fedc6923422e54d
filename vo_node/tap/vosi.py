"""VOSI endpoints shared by the node's services: availability (VOSI 1.1, section 3.2)."""

from __future__ import annotations

from lxml import etree

AVAILABILITY = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"


def availability_document(available: bool, note: str) -> bytes:
    root = etree.Element(f"{{{AVAILABILITY}}}availability", nsmap={"avail": AVAILABILITY})
    etree.SubElement(root, f"{{{AVAILABILITY}}}available").text = "true" if available else "false"
    etree.SubElement(root, f"{{{AVAILABILITY}}}note").text = note
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
