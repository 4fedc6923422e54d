"""The TAP service's VOSI capabilities (VOSI 1.1) with its TAPRegExt 1.0 description.

Everything advertised is derived from what the code does: language features from the ADQL
translator's declarations, output formats from the writers, limits from the settings. The
same builders serve the registry record of the service (issue 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lxml import etree

VOSI_CAP = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
VR = "http://www.ivoa.net/xml/VOResource/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"vosi": VOSI_CAP, "vr": VR, "vs": VS, "tr": TR, "xsi": XSI}
_TYPE = f"{{{XSI}}}type"


@dataclass(frozen=True)
class Feature:
    """One TAPRegExt language feature: its list's type URI, its form, what it does."""

    type: str
    form: str
    description: str = ""


@dataclass(frozen=True)
class OutputFormat:
    mime: str
    aliases: tuple[str, ...] = ()
    ivo_id: str | None = None


@dataclass(frozen=True)
class TapLimits:
    maxrec_default: int
    maxrec_hard: int
    sync_seconds: int
    async_seconds: int
    retention_default: int
    retention_hard: int
    upload_bytes: int


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, tag, **attrs)
    if text is not None:
        el.text = text
    return el


def _interface(
    parent: etree._Element,
    url: str,
    use: str,
    role: str | None = None,
    security: Sequence[str] = (),
) -> None:
    attrs = {_TYPE: "vs:ParamHTTP"}
    if role:
        attrs["role"] = role
        attrs["version"] = "1.1"
    # VOResource 1.1: at most one securityMethod per interface, and a service open to
    # anonymous callers has an interface without one. So: that interface first, then the
    # same access URL once per accepted IVOA SSO method (pyvo's AuthSession merges them).
    for method in (None, *security):
        interface = _sub(parent, "interface", **attrs)
        _sub(interface, "accessURL", url, use=use)
        if method is not None:
            _sub(interface, "securityMethod", standardID=method)


def _vosi(parent: etree._Element, standard: str, url: str) -> None:
    cap = _sub(parent, "capability", standardID=standard)
    _interface(cap, url, "full")


def tap_capabilities(
    base_url: str,
    features: Iterable[Feature],
    formats: Iterable[OutputFormat],
    limits: TapLimits,
    upload_methods: Iterable[str] = ("inline", "http"),
    security: Sequence[str] = (),
) -> bytes:
    """The document served at ``{base_url}/capabilities``. ``security``: the SSO methods the
    service accepts besides anonymous access; VOSI resources stay anonymous."""
    root = etree.Element(f"{{{VOSI_CAP}}}capabilities", nsmap=NSMAP)
    tap = _sub(root, "capability", standardID="ivo://ivoa.net/std/TAP", **{_TYPE: "tr:TableAccess"})
    _interface(tap, base_url, "base", role="std", security=security)
    _sub(tap, "dataModel", "ObsCore-1.1", **{"ivo-id": "ivo://ivoa.net/std/ObsCore#core-1.1"})
    language = _sub(tap, "language")
    _sub(language, "name", "ADQL")
    _sub(language, "version", "2.1", **{"ivo-id": "ivo://ivoa.net/std/ADQL#v2.1"})
    _sub(language, "version", "2.0", **{"ivo-id": "ivo://ivoa.net/std/ADQL#v2.0"})
    _sub(language, "description", "ADQL 2.1, translated to PostgreSQL with pgSphere")
    by_type: dict[str, list[Feature]] = {}
    for feature in features:
        by_type.setdefault(feature.type, []).append(feature)
    for type_uri, members in by_type.items():
        group = _sub(language, "languageFeatures", type=type_uri)
        for feature in members:
            item = _sub(group, "feature")
            _sub(item, "form", feature.form)
            if feature.description:
                _sub(item, "description", feature.description)
    for fmt in formats:
        attrs = {"ivo-id": fmt.ivo_id} if fmt.ivo_id else {}
        out = _sub(tap, "outputFormat", **attrs)
        _sub(out, "mime", fmt.mime)
        for alias in fmt.aliases:
            _sub(out, "alias", alias)
    for method in upload_methods:
        _sub(tap, "uploadMethod", **{"ivo-id": f"ivo://ivoa.net/std/TAPRegExt#upload-{method}"})
    retention = _sub(tap, "retentionPeriod")
    _sub(retention, "default", str(limits.retention_default))
    _sub(retention, "hard", str(limits.retention_hard))
    duration = _sub(tap, "executionDuration")
    _sub(duration, "default", str(limits.sync_seconds))
    _sub(duration, "hard", str(limits.async_seconds))
    output = _sub(tap, "outputLimit")
    _sub(output, "default", str(limits.maxrec_default), unit="row")
    _sub(output, "hard", str(limits.maxrec_hard), unit="row")
    upload = _sub(tap, "uploadLimit")
    _sub(upload, "hard", str(limits.upload_bytes), unit="byte")

    _vosi(root, "ivo://ivoa.net/std/VOSI#capabilities", f"{base_url}/capabilities")
    _vosi(root, "ivo://ivoa.net/std/VOSI#availability", f"{base_url}/availability")
    _vosi(root, "ivo://ivoa.net/std/VOSI#tables-1.1", f"{base_url}/tables")
    _vosi(root, "ivo://ivoa.net/std/DALI#examples", f"{base_url}/examples")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
