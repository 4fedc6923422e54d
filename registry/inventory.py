"""Every record the node publishes, as builders keyed by IVOA identifier: the publisher, the
naming authority, the publishing registry, the services and the data collections.

A builder makes its record for given dates, so the record store can compare contents without
dates and stamp only what changed. What the services serve (capabilities documents, the
tableset) is handed in by the composition root: this package knows no protocol package.
Must not import Flask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lxml import etree

from registry.coverage import CollectionFacts
from registry.records import (
    Dates,
    Identity,
    ServiceRecord,
    authority_record,
    collection_key,
    collection_record,
    organisation_record,
    registry_record,
    service_record,
)

Builder = Callable[[Dates], etree._Element]

# What the service records say besides their capabilities (the capabilities are the served ones).
TAP_SERVICE = ServiceRecord(
    "tap",
    "CoRoT light curves: TAP service",
    "CoRoT TAP",
    "Table Access Protocol (TAP 1.1, ADQL 2.1) service of the CoRoT light-curve archive: "
    "the stars, runs and light curves (every version) of the exoplanet and asteroseismology "
    "channels, and the IVOA ObsCore table, with synchronous and asynchronous queries and "
    "table uploads. Results carry DataLink descriptors to the light-curve files, cut-outs "
    "and previews.",
)
SSA_SERVICE = ServiceRecord(
    "ssa",
    "CoRoT light curves: SSA service",
    "CoRoT SSA",
    "Simple Spectral Access (SSA 1.1) service for the CoRoT light curves, as time series: "
    "search by position, time, name or collection; each light curve as FITS, VOTable, CSV "
    "or a PNG preview, with DataLink links.",
)
DATALINK_SERVICE = ServiceRecord(
    "datalink",
    "CoRoT light curves: DataLink and SODA",
    "CoRoT DataLink",
    "DataLink 1.1 links of every CoRoT light curve (files in several formats, previews, "
    "other versions, the N1 progenitor) and SODA 1.0 cut-outs of a light curve in time "
    "and columns.",
)


@dataclass(frozen=True)
class Sources:
    """What the records are made of, besides the collections' facts."""

    identity: Identity
    # Each service with the capabilities document its /capabilities serves.
    services: Sequence[tuple[ServiceRecord, bytes]]
    tableset: bytes  # the VOSI tableset document of the TAP service
    schemas: Sequence[str]  # the schemas of the tableset that hold the collections' tables
    # (standardID#aux, access URL): the services that answer for every collection.
    auxiliary: Sequence[tuple[str, str]]
    oai_url: str
    page: int  # records per OAI-PMH response


def node_records(sources: Sources, facts: Sequence[CollectionFacts]) -> dict[str, Builder]:
    """Builders of every record, keyed by identifier."""
    identity = sources.identity
    collections = [(identity.ivoid(collection_key(f.collection_id)), f.title) for f in facts]
    services = [(identity.ivoid(service.key), service.title) for service, _ in sources.services]
    builders: dict[str, Builder] = {
        identity.organisation: lambda d: organisation_record(identity, d),
        identity.ivoid(): lambda d: authority_record(identity, d),
        identity.ivoid("registry"): lambda d: registry_record(
            identity, sources.oai_url, sources.page, d
        ),
    }
    for service, capabilities in sources.services:
        builders[identity.ivoid(service.key)] = _service(
            identity, service, capabilities, collections
        )
    for fact in facts:
        builders[identity.ivoid(collection_key(fact.collection_id))] = _collection(
            sources, fact, services
        )
    return builders


# Closures made in functions of their own: a lambda in a loop would see the last iteration.
def _service(
    identity: Identity,
    service: ServiceRecord,
    capabilities: bytes,
    collections: Sequence[tuple[str, str]],
) -> Builder:
    return lambda d: service_record(identity, service, capabilities, d, serves=collections)


def _collection(
    sources: Sources, fact: CollectionFacts, services: Sequence[tuple[str, str]]
) -> Builder:
    return lambda d: collection_record(
        sources.identity,
        fact,
        sources.tableset,
        sources.schemas,
        sources.auxiliary,
        d,
        served_by=services,
    )
