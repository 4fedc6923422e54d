"""The publishing registry over HTTP (registry/oai.py, registry/store.py): OAI-PMH 2.0 as IVOA
Registry Interfaces 1.1 asks, harvested by sickle, every response valid against the OAI-PMH
and IVOA schemas, the registry-of-registries' checks, datestamps that move only on change,
deleted records kept, resumption that survives changes during a harvest."""

from __future__ import annotations

import base64
import copy
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from conftest import Node
from lxml import etree
from pyvo.io.vosi import parse_capabilities
from pyvo.registry.regtap import Interface
from sickle import Sickle
from xsd import assert_valid

OAI = "http://www.openarchives.org/OAI/2.0/"
NS = {"o": OAI, "ri": "http://www.ivoa.net/xml/RegistryInterface/v1.0"}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
SCHEMAS = (
    "OAI-PMH.xsd",
    "oai_dc.xsd",
    "RegistryInterface.xsd",
    "VOResource.xsd",
    "VODataService.xsd",
    "VORegistry.xsd",
    "TAPRegExt.xsd",
    "SSA.xsd",
)
PAGE = 3


@pytest.fixture
def served_env() -> dict[str, str]:
    # Small pages (several resumption tokens for eight records); records checked on every
    # request, so a change shows at once.
    return {"VO_NODE_OAI_PAGE_SIZE": str(PAGE), "VO_NODE_REGISTRY_CHECK_S": "0"}


def oai(base: str, method: str = "GET", **args: str) -> etree._Element:
    """One OAI-PMH request; the response checked against the schemas."""
    if method == "GET":
        resp = requests.get(f"{base}/oai", params=args, timeout=60)
    else:
        resp = requests.post(f"{base}/oai", data=args, timeout=60)
    assert resp.status_code == 200, resp.text[:500]
    assert resp.headers["Content-Type"].startswith("text/xml")
    return assert_valid(resp.content, *SCHEMAS)


def error_code(root: etree._Element) -> str | None:
    error = root.find("o:error", NS)
    return None if error is None else error.get("code")


def pages(base: str, verb: str, **args: str) -> Iterator[etree._Element]:
    """Every page of a list, following its resumption tokens by hand."""
    root = oai(base, verb=verb, **args)
    while True:
        assert error_code(root) is None, etree.tostring(root)[:500]
        yield root
        token = root.find(f"o:{verb}/o:resumptionToken", NS)
        if token is None or not token.text:
            return
        root = oai(base, verb=verb, resumptionToken=token.text)


def response_date(root: etree._Element) -> datetime:
    text = root.findtext("o:responseDate", namespaces=NS)
    assert text is not None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def stamp(text: str | None) -> datetime:
    assert text is not None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def expected_ids(node: Node) -> set[str]:
    authority = f"ivo://{node.settings.authority}"
    keys = ("org", "registry", "tap", "ssa", "datalink", "corot/exo", "corot/astero")
    return {authority} | {f"{authority}/{key}" for key in keys}


def test_harvest_by_hand_and_with_sickle(served: tuple[Node, str]) -> None:
    node, base = served
    identify = oai(base, verb="Identify")
    # The registry of registries' checks: the base URL is the one harvested, the registry's
    # own record describes it, manages the node's authority and offers the Harvest capability.
    assert identify.findtext("o:Identify/o:baseURL", namespaces=NS) == f"{base}/oai"
    assert identify.findtext("o:Identify/o:granularity", namespaces=NS) == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.findtext("o:Identify/o:deletedRecord", namespaces=NS) == "persistent"
    own = identify.find("o:Identify/o:description/ri:Resource", NS)
    assert own is not None and own.get(XSI_TYPE) == "vg:Registry"
    assert own.findtext("identifier") == f"ivo://{node.settings.authority}/registry"
    managed = [m.text for m in own.iterfind("managedAuthority")]
    assert managed == [node.settings.authority] and own.findtext("full") == "false"
    harvest = own.find("capability[@standardID='ivo://ivoa.net/std/Registry']")
    assert harvest is not None and harvest.get(XSI_TYPE) == "vg:Harvest"
    assert harvest.findtext("interface/accessURL") == f"{base}/oai"
    assert harvest.find("interface").get(XSI_TYPE) == "vg:OAIHTTP"  # type: ignore[union-attr]
    assert harvest.findtext("maxRecords") == str(PAGE)

    # ListRecords in ivo_vor, page by page: cursors and sizes as OAI-PMH 3.5 says.
    records: dict[str, etree._Element] = {}
    seen_pages = list(pages(base, "ListRecords", metadataPrefix="ivo_vor"))
    assert len(seen_pages) == 3
    for number, page in enumerate(seen_pages):
        now = response_date(page)
        token = page.find("o:ListRecords/o:resumptionToken", NS)
        assert token is not None and token.get("cursor") == str(number * PAGE)
        assert token.get("completeListSize") == "8"
        for record in page.iterfind("o:ListRecords/o:record", NS):
            header = record.find("o:header", NS)
            resource = record.find("o:metadata/ri:Resource", NS)
            assert header is not None and resource is not None
            ivoid = header.findtext("o:identifier", namespaces=NS)
            # Header identifiers are the records' identifiers; datestamps their updated.
            assert ivoid == resource.findtext("identifier") and ivoid not in records
            assert header.findtext("o:datestamp", namespaces=NS) == resource.get("updated")
            assert header.findtext("o:setSpec", namespaces=NS) == "ivo_managed"
            created, updated = stamp(resource.get("created")), stamp(resource.get("updated"))
            assert created <= updated <= now
            records[str(ivoid)] = resource
    assert set(records) == expected_ids(node)
    # An authority record for every managed authority, and the registry's own record.
    authority = records[f"ivo://{node.settings.authority}"]
    assert authority.get(XSI_TYPE) == "vg:Authority"
    assert records[f"ivo://{node.settings.authority}/registry"].get(XSI_TYPE) == "vg:Registry"
    assert [r.get(XSI_TYPE) for k, r in records.items() if "/corot/" in k] == [
        "vs:CatalogResource"
    ] * 2

    # The same through sickle, in both formats, and as identifiers only.
    sickle = Sickle(f"{base}/oai")
    vor = {r.header.identifier: r for r in sickle.ListRecords(metadataPrefix="ivo_vor")}
    assert set(vor) == set(records) and not any(r.header.deleted for r in vor.values())
    dc = {r.header.identifier: r.metadata for r in sickle.ListRecords(metadataPrefix="oai_dc")}
    assert set(dc) == set(records)
    for ivoid, resource in records.items():
        assert dc[ivoid]["title"] == [resource.findtext("title")]
        assert ivoid in dc[ivoid]["identifier"]
        assert dc[ivoid]["date"] == [resource.get("updated")]
    identifiers = [h.identifier for h in sickle.ListIdentifiers(metadataPrefix="oai_dc")]
    assert sorted(identifiers) == sorted(records)
    assert [s.setSpec for s in sickle.ListSets()] == ["ivo_managed"]
    assert {f.metadataPrefix for f in sickle.ListMetadataFormats()} == {"ivo_vor", "oai_dc"}
    for page in pages(base, "ListRecords", metadataPrefix="oai_dc", set="ivo_managed"):
        assert page.find("o:ListRecords/o:record/o:metadata/{*}dc", NS) is not None

    # A window over all time, at day granularity: its ends travel in the tokens.
    wide = {
        h.findtext("o:identifier", namespaces=NS)
        for page in pages(
            base,
            "ListIdentifiers",
            metadataPrefix="ivo_vor",
            **{"from": "0001-01-01", "until": "9999-12-31"},
        )
        for h in page.iterfind("o:ListIdentifiers/o:header", NS)
    }
    assert wide == set(records)

    # GetRecord of each, both formats, the same record as the list's.
    for ivoid, resource in records.items():
        got = oai(base, verb="GetRecord", identifier=ivoid, metadataPrefix="ivo_vor")
        again = got.find("o:GetRecord/o:record/o:metadata/ri:Resource", NS)
        assert etree.tostring(again) == etree.tostring(resource)
        got = oai(base, "POST", verb="GetRecord", identifier=ivoid.upper(), metadataPrefix="oai_dc")
        assert got.find("o:GetRecord/o:record/o:header/o:identifier", NS).text == ivoid  # type: ignore[union-attr]

    # pyvo reads the service records' capabilities and reaches the services through them.
    for key in ("tap", "ssa", "datalink"):
        record = records[f"ivo://{node.settings.authority}/{key}"]
        # (xsi:type values name prefixes: the record's declarations go along)
        vosi = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
        document = etree.Element(f"{{{vosi}}}capabilities", nsmap={**record.nsmap, "vosi": vosi})
        document.extend(copy.deepcopy(c) for c in record.findall("capability"))
        parsed = parse_capabilities(io.BytesIO(etree.tostring(document)))
        assert {c.standardid for c in parsed} == {
            c.get("standardID") for c in record.findall("capability")
        }
    tap = records[f"ivo://{node.settings.authority}/tap"]
    url = tap.findtext("capability[@standardID='ivo://ivoa.net/std/TAP']/interface/accessURL")
    service = Interface(
        url, standard_id="ivo://ivoa.net/std/tap", intf_type="vs:paramhttp", intf_role="std"
    ).to_service()
    counted = service.search("SELECT COUNT(*) AS n FROM corot.products")
    assert int(counted["n"][0]) == node.public_scalar("SELECT count(*) FROM archive.products")
    ssa = records[f"ivo://{node.settings.authority}/ssa"]
    test_query = ssa.findtext("capability/testQuery/pos/long")
    assert test_query is not None
    ra = float(test_query)
    dec = float(ssa.findtext("capability/testQuery/pos/lat") or "nan")
    size = float(ssa.findtext("capability/testQuery/size") or "nan")
    url = ssa.findtext("capability/interface/accessURL")
    ssa_service = Interface(
        url, standard_id="ivo://ivoa.net/std/ssa", intf_type="vs:paramhttp", intf_role="std"
    ).to_service()
    assert len(ssa_service.search(pos=(ra, dec), diameter=size)) >= 1


def _token(**changes: object) -> str:
    """A resumption token of our form with ``changes``."""
    state = {"v": "ListRecords", "p": "ivo_vor", "f": None, "u": None, "a": "", "c": 3, "n": 8}
    state.update(changes)
    raw = json.dumps(state).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CASES = [
    ({}, "badVerb"),
    ({"verb": "Harvest"}, "badVerb"),
    ({"verb": ["Identify", "Identify"]}, "badVerb"),
    ({"verb": "Identify", "set": "x"}, "badArgument"),
    ({"verb": "ListRecords"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ["ivo_vor", "oai_dc"]}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "yesterday"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "2026-02-30"}, "badArgument"),
    (
        {"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "2026-01-02T00:00:00"},
        "badArgument",
    ),
    (
        {
            "verb": "ListIdentifiers",
            "metadataPrefix": "ivo_vor",
            "from": "2026-01-02",
            "until": "2026-01-02T10:00:00Z",
        },
        "badArgument",
    ),
    (
        {
            "verb": "ListIdentifiers",
            "metadataPrefix": "ivo_vor",
            "from": "2026-02-02",
            "until": "2026-01-02",
        },
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "resumptionToken": "x"}, "badArgument"),
    ({"verb": "ListRecords", "resumptionToken": "not-a-token"}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": "eyJ2IjoxfQ"}, "badResumptionToken"),
    ({"verb": "ListSets", "resumptionToken": "x"}, "badResumptionToken"),
    ({"verb": "ListRecords", "metadataPrefix": "votable"}, "cannotDisseminateFormat"),
    (
        {"verb": "GetRecord", "identifier": "ivo://x/y", "metadataPrefix": "x"},
        "cannotDisseminateFormat",
    ),
    (
        {"verb": "GetRecord", "identifier": "ivo://nowhere/x", "metadataPrefix": "ivo_vor"},
        "idDoesNotExist",
    ),
    ({"verb": "GetRecord", "identifier": "ivo://nowhere/x"}, "badArgument"),
    ({"verb": "ListMetadataFormats", "identifier": "ivo://nowhere/x"}, "idDoesNotExist"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "set": "ivo_other"}, "noRecordsMatch"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "2099-01-01"}, "noRecordsMatch"),
    (
        {"verb": "ListIdentifiers", "metadataPrefix": "ivo_vor", "until": "2001-01-01T00:00:00Z"},
        "noRecordsMatch",
    ),
    ({"verb": "Identify", "x" * 3000: "1"}, "badArgument"),
    # Characters XML cannot carry, or private-use ones, are refused, never echoed.
    ({"verb": "GetRecord", "metadataPrefix": "ivo_vor", "identifier": "\x01"}, "badArgument"),
    ({"verb": "GetRecord", "metadataPrefix": "ivo_vor", "identifier": "\ufffe"}, "badArgument"),
    (
        {"verb": "GetRecord", "metadataPrefix": "ivo_vor", "identifier": "\ue0000\ue001"},
        "badArgument",
    ),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "set": "\ue0000\ue001"}, "badArgument"),
    # Values that are not of their syntax: badArgument, whatever else is wrong.
    ({"verb": "ListRecords", "metadataPrefix": "a b"}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": ""}, "badArgument"),
    ({"verb": "ListRecords", "metadataPrefix": "ivo_vor", "set": "a b"}, "badArgument"),
    (
        {"verb": "ListRecords", "metadataPrefix": "ivo_vor", "from": "\uff12026-01-01"},
        "badArgument",
    ),
    # Tokens that decode but are not ours.
    ({"verb": "ListRecords", "resumptionToken": _token(a="\x00")}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _token(u=253402300799.5)}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _token(u=10**15)}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _token(v="ListIdentifiers")}, "badResumptionToken"),
    ({"verb": "ListRecords", "resumptionToken": _token(c=-1)}, "badResumptionToken"),
    ({"verb": "GetRecord", "identifier": "i" * 3000, "metadataPrefix": "ivo_vor"}, "badArgument"),
]


def test_errors_are_oai_errors(served: tuple[Node, str]) -> None:
    _, base = served
    for args, code in CASES:
        for method in ("GET", "POST"):
            call = requests.get if method == "GET" else requests.post
            key = "params" if method == "GET" else "data"
            resp = call(f"{base}/oai", **{key: args}, timeout=30)  # type: ignore[operator]
            assert resp.status_code == 200, (args, resp.text[:300])
            root = assert_valid(resp.content, *SCHEMAS)
            assert error_code(root) == code, (args, method, resp.text[:500])
            request = root.find("o:request", NS)
            assert request is not None and request.text == f"{base}/oai"
            if code in ("badVerb", "badArgument"):
                assert not request.attrib  # the request is not echoed (OAI-PMH 3.2)
            assert len(resp.content) < 3000  # nothing long echoed back


def test_datestamps_move_only_on_change_and_deletions_stay(
    served: tuple[Node, str], tmp_path: Path
) -> None:
    node, base = served
    first = {
        h.findtext("o:identifier", namespaces=NS): h.findtext("o:datestamp", namespaces=NS)
        for page in pages(base, "ListIdentifiers", metadataPrefix="ivo_vor")
        for h in page.iterfind("o:ListIdentifiers/o:header", NS)
    }
    time.sleep(1.1)  # datestamps are whole seconds
    since = response_date(oai(base, verb="Identify"))
    # Asked again: nothing changed, so no datestamp moved.
    assert (
        error_code(
            oai(base, verb="ListIdentifiers", metadataPrefix="ivo_vor", **{"from": _text(since)})
        )
        == "noRecordsMatch"
    )

    # An ingest that adds public light curves to a collection changes that collection's
    # record (coverage, dates) and nothing else that depends on products alone.
    more = tmp_path / "more"
    node.cli("sample-data", str(more), "--stars", "8", "--runs", "1", "--seed", "91", check=True)
    counts = "SELECT collection_id, count(*) FROM archive.products GROUP BY 1"
    before = dict(node.public_rows(counts))
    node.cli("ingest", str(more), check=True)
    grown = {c for c, n in node.public_rows(counts) if n != before.get(c)}
    assert grown  # the new delivery holds public light curves
    changed = {
        h.findtext("o:identifier", namespaces=NS)
        for page in pages(
            base, "ListIdentifiers", metadataPrefix="ivo_vor", **{"from": _text(since)}
        )
        for h in page.iterfind("o:ListIdentifiers/o:header", NS)
    }
    authority = f"ivo://{node.settings.authority}"
    collections = {f"{authority}/corot/{c.removeprefix('corot-')}" for c in grown}
    assert collections <= changed
    # The SSA record's test query may move to another public light curve; nothing else moves.
    assert changed - collections <= {f"{authority}/ssa"}
    steady = expected_ids(node) - changed
    now = {
        h.findtext("o:identifier", namespaces=NS): h.findtext("o:datestamp", namespaces=NS)
        for page in pages(base, "ListIdentifiers", metadataPrefix="ivo_vor")
        for h in page.iterfind("o:ListIdentifiers/o:header", NS)
    }
    assert {k: now[k] for k in steady} == {k: first[k] for k in steady}
    record = oai(
        base, verb="GetRecord", identifier=sorted(collections)[0], metadataPrefix="ivo_vor"
    )
    resource = record.find("o:GetRecord/o:record/o:metadata/ri:Resource", NS)
    assert resource is not None and stamp(resource.get("updated")) >= since

    # A harvest in progress while a record appears: no identifier twice, none skipped; what
    # changed comes (again) with the next harvest from this one's first response time.
    time.sleep(1.1)  # (a harvest from a second includes what changed in that second)
    page_one = oai(base, verb="ListIdentifiers", metadataPrefix="ivo_vor")
    started = response_date(page_one)
    time.sleep(1.1)
    with node.db.admin() as conn:
        conn.execute(
            "INSERT INTO archive.collections (collection_id, mission, title)"
            " VALUES ('corot-test', 'CoRoT', 'A collection for a while')"
        )
    harvested = [
        h.findtext("o:identifier", namespaces=NS)
        for h in page_one.iterfind("o:ListIdentifiers/o:header", NS)
    ]
    token = page_one.findtext("o:ListIdentifiers/o:resumptionToken", namespaces=NS)
    while token:
        page = oai(base, verb="ListIdentifiers", resumptionToken=token)
        harvested += [
            h.findtext("o:identifier", namespaces=NS)
            for h in page.iterfind("o:ListIdentifiers/o:header", NS)
        ]
        token = page.findtext("o:ListIdentifiers/o:resumptionToken", namespaces=NS)
    assert len(harvested) == len(set(harvested))
    newcomer = f"{authority}/corot/test"
    # The service records name the collections they serve: they changed too. Their
    # identifiers and the newcomer's sort after the first page: this harvest sends them in
    # their new versions.
    services = {f"{authority}/{key}" for key in ("tap", "ssa", "datalink")}
    assert not (services | {newcomer}) & set(harvested[:PAGE])
    assert set(harvested) == expected_ids(node) | {newcomer}
    following = {
        h.findtext("o:identifier", namespaces=NS)
        for page in pages(
            base, "ListIdentifiers", metadataPrefix="ivo_vor", **{"from": _text(started)}
        )
        for h in page.iterfind("o:ListIdentifiers/o:header", NS)
    }
    assert following == services | {newcomer}

    # The collection goes: its record stays, announced as deleted.
    time.sleep(1.1)
    gone = response_date(oai(base, verb="Identify"))
    with node.db.admin() as conn:
        conn.execute("DELETE FROM archive.collections WHERE collection_id = 'corot-test'")
    headers = [
        h
        for page in pages(base, "ListIdentifiers", metadataPrefix="oai_dc", **{"from": _text(gone)})
        for h in page.iterfind("o:ListIdentifiers/o:header", NS)
    ]
    statuses = {h.findtext("o:identifier", namespaces=NS): h.get("status") for h in headers}
    assert statuses == {newcomer: "deleted"} | dict.fromkeys(services)
    record = oai(base, verb="GetRecord", identifier=newcomer, metadataPrefix="ivo_vor")
    assert record.find("o:GetRecord/o:record/o:header", NS).get("status") == "deleted"  # type: ignore[union-attr]
    assert record.find("o:GetRecord/o:record/o:metadata", NS) is None
    deleted = [r for r in Sickle(f"{base}/oai").ListRecords(metadataPrefix="ivo_vor") if r.deleted]
    assert [r.header.identifier for r in deleted] == [newcomer]


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
