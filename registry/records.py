"""VOResource 1.1 records of the node (RegistryInterface 1.0 ``ri:Resource`` elements),
generated from the same declarations the services use, never written by hand.

The capabilities of a service record are those its own ``/capabilities`` serves (the same
builders, the same bytes), so the registry and the service cannot disagree. Identity and
curation (authority, publisher, contact) come from the settings. This module knows no
protocol package: the caller hands it each service's capabilities document. Must not
import Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from registry.coverage import CollectionFacts
from vo_node.http.capabilities import TYPE, VOSI_CAP, VR, VS, XSI, serialize, sub
from vo_node.settings import Settings

RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"
VG = "http://www.ivoa.net/xml/VORegistry/v1.0"
TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
SSAP = "http://www.ivoa.net/xml/SSA/v1.1"
# Every prefix a record's xsi:type values use: xsi:type holds a QName as text, so its prefix
# must be declared on the record even where no element name uses it.
NSMAP = {"ri": RI, "vr": VR, "vs": VS, "vg": VG, "tr": TR, "ssa": SSAP, "xsi": XSI}
# Unified Astronomy Thesaurus concepts, written as the IVOA UAT vocabulary's term identifiers
# (http://www.ivoa.net/rdf/uat#light-curves ...), the form registries match subjects against.
SUBJECTS = (
    "light-curves",
    "time-domain-astronomy",
    "stellar-oscillations",
    "asteroseismology",
    "exoplanets",
    "transit-photometry",
)
# A collection's own subjects (the channel's science).
COLLECTION_SUBJECTS = {
    "corot-exo": ("light-curves", "time-domain-astronomy", "exoplanets", "transit-photometry"),
    "corot-astero": (
        "light-curves",
        "time-domain-astronomy",
        "asteroseismology",
        "stellar-oscillations",
    ),
}
# Who may have the data (VOResource rights): the access policy in words.
RIGHTS = (
    "N2 light curves are public from their run's release date (earlier for the CoRoT "
    "Co-Investigators and the run's Guest Investigators); N1 light curves are reserved to the "
    "CoRoT community. Proprietary data are served to authenticated users with rights (HTTP "
    "Basic, bearer token or login cookie)."
)
REGISTRY_STANDARD = "ivo://ivoa.net/std/Registry"
# The largest page of records one OAI-PMH response holds (the Harvest capability says so).
OAI_PAGE = 100


@dataclass(frozen=True)
class Identity:
    """Who the node is in the Registry: its naming authority, its publisher and contact."""

    authority: str
    base_url: str
    title: str
    publisher: str
    contact_name: str
    contact_email: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Identity:
        return cls(
            settings.authority,
            settings.public_url,
            settings.node_title,
            settings.publisher,
            settings.contact_name,
            settings.contact_email,
        )

    def ivoid(self, key: str = "") -> str:
        return f"ivo://{self.authority}/{key}" if key else f"ivo://{self.authority}"

    @property
    def organisation(self) -> str:
        return self.ivoid("org")


@dataclass(frozen=True)
class Dates:
    created: datetime
    updated: datetime


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp_dates(record: etree._Element, dates: Dates) -> None:
    """Give a built record other dates (the store stamps a record when it changes)."""
    record.set("created", _stamp(dates.created))
    record.set("updated", _stamp(dates.updated))


def _resource(
    identity: Identity,
    xsi_type: str,
    key: str,
    title: str,
    short_name: str,
    description: str,
    dates: Dates,
    *,
    content_type: str | None = None,
    related: Sequence[tuple[str, str, str]] = (),
    subjects: Sequence[str] = SUBJECTS,
) -> etree._Element:
    """A record's head: identification, curation and content (VOResource 1.1), with
    ``related`` resources as (relationship type, ivoid, title)."""
    record = etree.Element(
        f"{{{RI}}}Resource",
        nsmap=NSMAP,
        attrib={
            TYPE: xsi_type,
            "created": _stamp(dates.created),
            "updated": _stamp(dates.updated),
            "status": "active",
        },
    )
    sub(record, "title", title)
    sub(record, "shortName", short_name[:16])
    sub(record, "identifier", identity.ivoid(key))
    curation = sub(record, "curation")
    sub(curation, "publisher", identity.publisher, **{"ivo-id": identity.organisation})
    contact = sub(curation, "contact")
    sub(contact, "name", identity.contact_name)
    sub(contact, "email", identity.contact_email)
    content = sub(record, "content")
    for subject in subjects:
        sub(content, "subject", subject)
    sub(content, "description", description)
    sub(content, "referenceURL", f"{identity.base_url}/")
    if content_type:
        sub(content, "type", content_type)
    sub(content, "contentLevel", "Research")
    for kind, ivoid, name in related:
        relationship = sub(content, "relationship")
        sub(relationship, "relationshipType", kind)
        sub(relationship, "relatedResource", name, **{"ivo-id": ivoid})
    return record


def organisation_record(identity: Identity, dates: Dates) -> etree._Element:
    """The publisher (VOResource 1.1, ``vr:Organisation``)."""
    record = _resource(
        identity,
        "vr:Organisation",
        "org",
        identity.publisher,
        "CoRoT archive",
        f"The organisation that publishes {identity.title}: the archive of the CoRoT space "
        "mission's light curves (2007-2012).",
        dates,
        content_type="Organisation",
    )
    sub(record, "facility", "CoRoT (Convection, Rotation and planetary Transits)")
    return record


def authority_record(identity: Identity, dates: Dates) -> etree._Element:
    """The naming authority the node's identifiers live in (VORegistry 1.0, ``vg:Authority``),
    managed by the publisher."""
    record = _resource(
        identity,
        "vg:Authority",
        "",
        f"The {identity.authority} naming authority",
        identity.authority,
        f"The IVOA naming authority of {identity.title}: the identifiers of its services "
        "and data collections.",
        dates,
    )
    sub(record, "managingOrg", identity.publisher, **{"ivo-id": identity.organisation})
    return record


@dataclass(frozen=True)
class ServiceRecord:
    """What a service record says of a service besides its capabilities."""

    key: str  # the identifier's resource key, e.g. 'tap'
    title: str
    short_name: str
    description: str


def service_record(
    identity: Identity,
    service: ServiceRecord,
    capabilities: bytes,
    dates: Dates,
    *,
    skip: Sequence[str] = (),
    serves: Sequence[tuple[str, str]] = (),
) -> etree._Element:
    """A ``vs:DataService`` record whose capabilities are those of the service's VOSI
    capabilities document ``capabilities`` (standardIDs in ``skip`` left out), serving the
    data collections ``serves`` ((ivoid, title) pairs)."""
    record = _resource(
        identity,
        "vs:DataService",
        service.key,
        service.title,
        service.short_name,
        service.description,
        dates,
        related=[("IsServiceFor", ivoid, title) for ivoid, title in serves],
    )
    document = etree.fromstring(capabilities)
    if document.tag != f"{{{VOSI_CAP}}}capabilities":
        raise ValueError("not a VOSI capabilities document")
    for capability in document.findall("capability"):
        if capability.get("standardID") not in skip:
            record.append(capability)
    return record


def registry_record(identity: Identity, oai_url: str, page: int, dates: Dates) -> etree._Element:
    """The publishing registry itself (VORegistry 1.0, ``vg:Registry``): not full (it holds
    only the node's own records), managing the node's authority, harvested over OAI-PMH at
    ``oai_url`` in pages of at most ``page`` records."""
    record = _resource(
        identity,
        "vg:Registry",
        "registry",
        f"{identity.title} publishing registry",
        "CoRoT registry",
        f"The OAI-PMH publishing registry of {identity.title}: the VOResource records of its "
        "services, data collections, naming authority and publisher, for the searchable "
        "registries of the Virtual Observatory to harvest.",
        dates,
    )
    capability = sub(record, "capability", standardID=REGISTRY_STANDARD, **{TYPE: "vg:Harvest"})
    interface = sub(capability, "interface", role="std", version="1.0", **{TYPE: "vg:OAIHTTP"})
    sub(interface, "accessURL", oai_url, use="base")
    sub(capability, "maxRecords", str(page))
    sub(record, "full", "false")
    sub(record, "managedAuthority", identity.authority)
    return record


def record_bytes(record: etree._Element) -> bytes:
    return serialize(record)


def collection_key(collection_id: str) -> str:
    """The resource key of a collection's record: 'corot-exo' -> 'corot/exo'."""
    return f"corot/{collection_id.removeprefix('corot-')}"


def collection_record(
    identity: Identity,
    facts: CollectionFacts,
    tableset: bytes,
    schemas: Sequence[str],
    auxiliary: Sequence[tuple[str, str]],
    dates: Dates,
    *,
    served_by: Sequence[tuple[str, str]] = (),
) -> etree._Element:
    """A data collection (``vs:CatalogResource``): its coverage (MOC, run intervals, the
    optical waveband), the tables it is queried through (the ``schemas`` of the VOSI
    ``tableset`` document), and auxiliary capabilities pointing at the services that serve
    it ((standardID, access URL) pairs, e.g. TAP#aux: how registries find a collection's
    services), and the records of those services ``served_by`` ((ivoid, title) pairs)."""
    record = _resource(
        identity,
        "vs:CatalogResource",
        collection_key(facts.collection_id),
        facts.title,
        facts.collection_id,
        facts.description or facts.title,
        dates,
        content_type="Survey",
        related=[("IsServedBy", ivoid, title) for ivoid, title in served_by],
        subjects=COLLECTION_SUBJECTS.get(facts.collection_id, SUBJECTS),
    )
    sub(record, "rights", RIGHTS)
    for standard_id, url in auxiliary:
        capability = sub(record, "capability", standardID=standard_id)
        interface = sub(capability, "interface", role="std", **{TYPE: "vs:ParamHTTP"})
        sub(interface, "accessURL", url, use="base")
    sub(record, "facility", "CoRoT")
    coverage = sub(record, "coverage")
    if facts.moc:
        sub(coverage, "spatial", facts.moc)
    for low, high in facts.intervals:
        sub(coverage, "temporal", f"{low!r} {high!r}")
    sub(coverage, "waveband", "Optical")
    document = etree.fromstring(tableset)
    target = sub(record, "tableset")
    for schema in document.findall("schema"):
        if schema.findtext("name") in schemas:
            target.append(schema)
    return record
