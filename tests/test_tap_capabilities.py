"""The TAPRegExt capabilities builder produces documents valid against the IVOA schemas."""

from __future__ import annotations

from xsd import assert_valid

from vo_node.auth.credentials import SECURITY_METHODS
from vo_node.tap.capabilities import Feature, OutputFormat, TapLimits, tap_capabilities

LIMITS = TapLimits(20000, 10_000_000, 60, 3600, 172800, 1209600, 20_000_000)
NS = {
    "tr": "http://www.ivoa.net/xml/TAPRegExt/v1.0",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def test_capabilities_document_is_valid_and_says_what_was_given() -> None:
    features = [
        Feature("ivo://ivoa.net/std/TAPRegExt#features-adqlgeo", "CIRCLE"),
        Feature("ivo://ivoa.net/std/TAPRegExt#features-adqlgeo", "POINT"),
        Feature("ivo://ivoa.net/std/TAPRegExt#features-adql-string", "LOWER", "lower case"),
    ]
    formats = [
        OutputFormat(
            "application/x-votable+xml",
            ("votable",),
            "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2",
        ),
        OutputFormat("text/csv", ("csv",)),
    ]
    doc = tap_capabilities(
        "http://127.0.0.1:8000/tap", features, formats, LIMITS, security=SECURITY_METHODS
    )
    root = assert_valid(doc, "VOSICapabilities.xsd", "TAPRegExt.xsd", "VODataService.xsd")
    tap = root.find("capability[@standardID='ivo://ivoa.net/std/TAP']")
    assert tap is not None
    geo = tap.findall(
        "language/languageFeatures[@type="
        "'ivo://ivoa.net/std/TAPRegExt#features-adqlgeo']/feature/form"
    )
    assert [f.text for f in geo] == ["CIRCLE", "POINT"]
    assert [m.text for m in tap.findall("outputFormat/mime")] == [
        "application/x-votable+xml",
        "text/csv",
    ]
    assert tap.findtext("outputLimit/default") == "20000"
    assert tap.find("outputLimit/hard").get("unit") == "row"
    standards = {c.get("standardID") for c in root.findall("capability")}
    assert {"ivo://ivoa.net/std/VOSI#tables-1.1", "ivo://ivoa.net/std/DALI#examples"} <= standards
    base = tap.find("interface/accessURL")
    assert (base.text, base.get("use")) == ("http://127.0.0.1:8000/tap", "base")
    # One interface per way in, the anonymous one first (at most one securityMethod each).
    interfaces = tap.findall("interface")
    assert [i.findtext("accessURL") for i in interfaces] == ["http://127.0.0.1:8000/tap"] * 4
    assert [[m.get("standardID") for m in i.findall("securityMethod")] for i in interfaces] == [
        [],
        *([m] for m in SECURITY_METHODS),
    ]
