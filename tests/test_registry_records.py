"""VOResource records of the node (registry/records.py): each valid against the IVOA schemas
(RegistryInterface, VOResource, VODataService, VORegistry, TAPRegExt, SSA), and carrying the
very capabilities the services serve."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lxml import etree
from xsd import assert_valid

from registry.records import (
    Dates,
    Identity,
    ServiceRecord,
    authority_record,
    organisation_record,
    record_bytes,
    service_record,
)
from ssa.capabilities import SsaLimits, ssa_capabilities
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
