"""VOResource records of the node (registry/records.py): each valid against the IVOA schemas
(RegistryInterface, VOResource, VODataService, VORegistry, TAPRegExt, SSA), and carrying the
very capabilities the services serve."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import astropy.units as u
import numpy as np
from conftest import Node
from lxml import etree
from mocpy import MOC
from xsd import assert_valid

from registry.coverage import collection_facts
from registry.records import (
    Dates,
    Identity,
    ServiceRecord,
    authority_record,
    collection_record,
    organisation_record,
    record_bytes,
    registry_record,
    service_record,
)
from ssa.capabilities import SsaLimits, ssa_capabilities
from tap_schema import METADATA, vosi
from vo_node.datalink.capabilities import datalink_capabilities
from vo_node.settings import Settings
from vo_node.tap.capabilities import node_tap_capabilities

SCHEMAS = (
    "RegistryInterface.xsd",
    "VOResource.xsd",
    "VODataService.xsd",
    "VORegistry.xsd",
    "TAPRegExt.xsd",
    "SSA.xsd",
)
DATES = Dates(datetime(2026, 1, 5, 10, 0, tzinfo=UTC), datetime(2026, 11, 1, 8, 30, tzinfo=UTC))


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        var_dir=tmp_path,
        authority="corot.example.org",
        base_url="https://corot.example.org",
        publisher="CoRoT archive team",
        contact_email="help@corot.example.org",
    )


def _shape(element: etree._Element | None) -> list[tuple[object, ...]]:
    """An element's content (tags, attributes, text) without its namespace declarations."""
    assert element is not None
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in element.iter()]


def test_organisation_and_authority(tmp_path: Path) -> None:
    identity = Identity.from_settings(_settings(tmp_path))
    org = assert_valid(record_bytes(organisation_record(identity, DATES)), *SCHEMAS)
    assert org.findtext("identifier") == "ivo://corot.example.org/org"
    assert org.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "vr:Organisation"
    assert (org.get("created"), org.get("updated")) == (
        "2026-01-05T10:00:00Z",
        "2026-11-01T08:30:00Z",
    )
    authority = assert_valid(record_bytes(authority_record(identity, DATES)), *SCHEMAS)
    assert authority.findtext("identifier") == "ivo://corot.example.org"
    managing = authority.find("managingOrg")
    assert managing is not None and managing.get("ivo-id") == "ivo://corot.example.org/org"
    assert authority.findtext("curation/contact/email") == "help@corot.example.org"


def test_registry_record(tmp_path: Path) -> None:
    identity = Identity.from_settings(_settings(tmp_path))
    record = registry_record(identity, "https://corot.example.org/oai", 250, DATES)
    root = assert_valid(record_bytes(record), *SCHEMAS)
    assert root.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "vg:Registry"
    assert root.findtext("identifier") == "ivo://corot.example.org/registry"
    assert [m.text for m in root.iterfind("managedAuthority")] == ["corot.example.org"]
    capability = root.find("capability")
    assert capability is not None
    assert capability.get("standardID") == "ivo://ivoa.net/std/Registry"
    assert capability.findtext("interface/accessURL") == "https://corot.example.org/oai"
    assert capability.findtext("maxRecords") == "250"


def test_service_records_carry_the_served_capabilities(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    identity = Identity.from_settings(settings)
    base = settings.public_url
    documents = {
        "tap": node_tap_capabilities(settings),
        "ssa": ssa_capabilities(f"{base}/ssa", SsaLimits(1000, 100000, (102.5, -0.5))),
        "datalink": datalink_capabilities(f"{base}/datalink"),
    }
    expected = {
        "tap": "ivo://ivoa.net/std/TAP",
        "ssa": "ivo://ivoa.net/std/SSA#v1.1",
        "datalink": "ivo://ivoa.net/std/DataLink#links-1.1",
    }
    for key, document in documents.items():
        service = ServiceRecord(key, f"{key} of the node", key, f"The node's {key} service.")
        record = service_record(identity, service, document, DATES)
        root = assert_valid(record_bytes(record), *SCHEMAS)
        assert root.findtext("identifier") == f"ivo://corot.example.org/{key}"
        served = [c.get("standardID") for c in etree.fromstring(document).findall("capability")]
        listed = [c.get("standardID") for c in root.findall("capability")]
        assert listed == served and expected[key] in listed
        # The same capability, element for element, as the service's own document.
        first = etree.fromstring(document).find("capability")
        assert first is not None
        assert _shape(root.find("capability")) == _shape(first)


def test_collection_records_cover_what_anyone_may_see(node: Node, sample_dir: Path) -> None:
    node.cli("ingest", str(sample_dir), check=True)
    identity = Identity.from_settings(node.settings)
    with node.db.service() as conn:  # the anonymous caller, under the policy
        facts = collection_facts(conn)
    assert {f.collection_id for f in facts} == {"corot-exo", "corot-astero"}
    tableset = vosi.tableset(METADATA)
    tap = f"{node.settings.public_url}/tap"
    for fact in facts:
        public = node.public_rows(
            "SELECT s.ra, s.dec, p.t_min, p.t_max, p.ingested_at FROM archive.products p"
            " JOIN archive.stars s USING (star_id) WHERE p.collection_id = %s",
            fact.collection_id,
        )
        assert fact.products == len(public) > 0
        assert fact.updated >= max(r[4] for r in public)  # type: ignore[type-var]
        record = collection_record(
            identity,
            fact,
            tableset,
            ("corot", "ivoa"),
            [("ivo://ivoa.net/std/TAP#aux", tap)],
            DATES,
            served_by=[(identity.ivoid("tap"), "TAP")],
        )
        root = assert_valid(record_bytes(record), *SCHEMAS)
        key = fact.collection_id.removeprefix("corot-")
        assert root.findtext("identifier") == f"ivo://{node.settings.authority}/corot/{key}"
        assert root.find("capability").get("standardID") == "ivo://ivoa.net/std/TAP#aux"  # type: ignore[union-attr]
        # Every public star in the MOC; every public light curve within the intervals.
        moc = MOC.from_string(root.findtext("coverage/spatial"), format="ascii")
        placed = [r for r in public if r[0] is not None and r[1] is not None]
        assert placed  # (a few sample stars have no position)
        ra = np.array([float(r[0]) for r in placed]) * u.deg  # type: ignore[arg-type]
        dec = np.array([float(r[1]) for r in placed]) * u.deg  # type: ignore[arg-type]
        assert moc.contains_lonlat(ra, dec).all()
        assert moc.sky_fraction < 0.01  # a few fields, not the sky
        intervals = [tuple(map(float, t.text.split())) for t in root.findall("coverage/temporal")]  # type: ignore[union-attr]
        for _, _, t_min, t_max, _ in public:
            assert any(lo <= float(t_min) and float(t_max) <= hi for lo, hi in intervals)  # type: ignore[arg-type]
        assert root.findtext("coverage/waveband") == "Optical"
        assert {s.findtext("name") for s in root.findall("tableset/schema")} == {"corot", "ivoa"}
