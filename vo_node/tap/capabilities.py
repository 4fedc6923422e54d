"""The TAP service's VOSI capabilities (VOSI 1.1) with its TAPRegExt 1.0 description.

Everything advertised is derived from what the code does: language features from the ADQL
translator's declarations, output formats from the writers, limits from the settings. The
same builders serve the registry record of the service (issue 6).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vo_node.adql import FEATURES
from vo_node.auth.credentials import SECURITY_METHODS
from vo_node.formats import FORMATS
from vo_node.http import capabilities as caps
from vo_node.http.capabilities import TYPE, sub
from vo_node.settings import Settings

TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"


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
    root = caps.root({"tr": TR})
    tap = sub(root, "capability", standardID="ivo://ivoa.net/std/TAP", **{TYPE: "tr:TableAccess"})
    caps.interfaces(tap, base_url, "base", role="std", security=security, version="1.1")
    sub(tap, "dataModel", "ObsCore-1.1", **{"ivo-id": "ivo://ivoa.net/std/ObsCore#core-1.1"})
    language = sub(tap, "language")
    sub(language, "name", "ADQL")
    sub(language, "version", "2.1", **{"ivo-id": "ivo://ivoa.net/std/ADQL#v2.1"})
    sub(language, "version", "2.0", **{"ivo-id": "ivo://ivoa.net/std/ADQL#v2.0"})
    sub(language, "description", "ADQL 2.1, translated to PostgreSQL with pgSphere")
    by_type: dict[str, list[Feature]] = {}
    for feature in features:
        by_type.setdefault(feature.type, []).append(feature)
    for type_uri, members in by_type.items():
        group = sub(language, "languageFeatures", type=type_uri)
        for feature in members:
            item = sub(group, "feature")
            sub(item, "form", feature.form)
            if feature.description:
                sub(item, "description", feature.description)
    for fmt in formats:
        attrs = {"ivo-id": fmt.ivo_id} if fmt.ivo_id else {}
        out = sub(tap, "outputFormat", **attrs)
        sub(out, "mime", fmt.mime)
        for alias in fmt.aliases:
            sub(out, "alias", alias)
    for method in upload_methods:
        sub(tap, "uploadMethod", **{"ivo-id": f"ivo://ivoa.net/std/TAPRegExt#upload-{method}"})
    retention = sub(tap, "retentionPeriod")
    sub(retention, "default", str(limits.retention_default))
    sub(retention, "hard", str(limits.retention_hard))
    duration = sub(tap, "executionDuration")
    sub(duration, "default", str(limits.sync_seconds))
    sub(duration, "hard", str(limits.async_seconds))
    output = sub(tap, "outputLimit")
    sub(output, "default", str(limits.maxrec_default), unit="row")
    sub(output, "hard", str(limits.maxrec_hard), unit="row")
    upload = sub(tap, "uploadLimit")
    sub(upload, "hard", str(limits.upload_bytes), unit="byte")

    caps.vosi(
        root,
        base_url,
        [
            (caps.VOSI_CAPABILITIES, "capabilities"),
            (caps.VOSI_AVAILABILITY, "availability"),
            ("ivo://ivoa.net/std/VOSI#tables-1.1", "tables"),
            ("ivo://ivoa.net/std/DALI#examples", "examples"),
        ],
    )
    return caps.serialize(root)


# TAPRegExt 1.0 section 2.4: standard identifiers of the VOTable serializations.
_FORMAT_IDS = {
    "votable": "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2",
    "votable/td": "ivo://ivoa.net/std/TAPRegExt#output-votable-td",
}


def node_tap_capabilities(settings: Settings) -> bytes:
    """This node's TAP capabilities, from its settings, the translator's features and the
    writers (served at /tap/capabilities, copied into the registry record)."""
    limits = TapLimits(
        settings.maxrec_default,
        settings.maxrec_hard,
        settings.sync_timeout,
        settings.async_timeout,
        settings.job_retention,
        settings.job_retention_hard,
        settings.upload_limit,
    )
    features = [Feature(f.type, f.form, f.description) for f in FEATURES]
    formats = [
        OutputFormat(f.mime_type, (f.name, *f.aliases), _FORMAT_IDS.get(f.name)) for f in FORMATS
    ]
    # TAP 1.1 section 3.1: a service with uploads supports http URLs. Which hosts it fetches
    # from is the operator's policy (VO_NODE_UPLOAD_HOSTS); others get a clear refusal.
    methods = ("inline", "http", "https")
    return tap_capabilities(
        f"{settings.public_url}/tap", features, formats, limits, methods, SECURITY_METHODS
    )
