"""A VOResource record in simple Dublin Core (``oai_dc``), the format every OAI-PMH
repository must offer: for harvesters outside the VO (library catalogues, search engines).

The mapping follows the record's own fields; nothing is added that the record does not say.
Must not import Flask.
"""

from __future__ import annotations

from lxml import etree

OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_TYPE = f"{{{XSI}}}type"


def dublin_core(resource: etree._Element) -> etree._Element:
    """The ``oai_dc:dc`` element for a VOResource ``ri:Resource`` element."""
    dc = etree.Element(f"{{{OAI_DC}}}dc", nsmap={"oai_dc": OAI_DC, "dc": DC})
    dc.set(f"{{{XSI}}}schemaLocation", f"{OAI_DC} http://www.openarchives.org/OAI/2.0/oai_dc.xsd")

    def add(tag: str, text: str | None) -> None:
        if text and text.strip():
            etree.SubElement(dc, f"{{{DC}}}{tag}").text = text.strip()

    add("title", resource.findtext("title"))
    for creator in resource.iterfind("curation/creator/name"):
        add("creator", creator.text)
    for subject in resource.iterfind("content/subject"):
        add("subject", subject.text)
    add("description", resource.findtext("content/description"))
    add("publisher", resource.findtext("curation/publisher"))
    for contributor in resource.iterfind("curation/contributor"):
        add("contributor", contributor.text)
    add("date", resource.get("updated"))
    # The VOResource type (vs:DataService, vs:CatalogResource, ...) and its content types.
    add("type", resource.get(_TYPE))
    for kind in resource.iterfind("content/type"):
        add("type", kind.text)
    add("identifier", resource.findtext("identifier"))
    add("identifier", resource.findtext("content/referenceURL"))
    for relationship in resource.iterfind("content/relationship/relatedResource"):
        add("relation", relationship.get("ivo-id") or relationship.text)
    for rights in resource.iterfind("rights"):
        add("rights", rights.text)
    return dc
