"""OAI-PMH 2.0 over the record store, as IVOA Registry Interfaces 1.1 asks of a publishing
registry: the six verbs, the ``ivo_vor`` and ``oai_dc`` formats, the ``ivo_managed`` set,
datestamps to the second, deleted records kept, every error code where the protocol names it.

``respond(repository, arguments)`` takes the request's arguments (name -> values, so that a
repeated argument can be refused) and returns the response document; protocol errors are
documents too (HTTP 200, as OAI-PMH wants). Must not import Flask.

Resumption tokens carry the whole state of a list (format, set, datestamp window, the last
identifier sent, the count so far), so any worker can answer the next page and nothing is
kept on the server. Pages follow each other in identifier order; records are never removed
(a deleted one stays as such), so a token always has records after it. A record changed
during a harvest is sent in its new version if its identifier is still ahead; either way the
harvester's next ``from`` (its first response time) brings it again: repeated, never lost.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
from lxml import etree

from registry import store
from vo_node.http.capabilities import XSI

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
RI = "http://www.ivoa.net/xml/RegistryInterface/v1.0"
# metadataPrefix -> (schema, namespace)
FORMATS = {
    "ivo_vor": ("http://www.ivoa.net/xml/RegistryInterface/RegistryInterface-v1.0.xsd", RI),
    "oai_dc": (
        "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
        "http://www.openarchives.org/OAI/2.0/oai_dc/",
    ),
}
MANAGED_SET = "ivo_managed"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"

# The arguments of each verb: required, optional, exclusive (resumptionToken, alone).
_VERBS: dict[str, tuple[frozenset[str], frozenset[str], str | None]] = {
    "Identify": (frozenset(), frozenset(), None),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"}), None),
    "ListSets": (frozenset(), frozenset(), "resumptionToken"),
    "ListIdentifiers": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set"}),
        "resumptionToken",
    ),
    "ListRecords": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set"}),
        "resumptionToken",
    ),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset(), None),
}
# ASCII digits only (Python's \d also takes other scripts' digits, which the XSD does not).
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# The syntax of metadataPrefix and setSpec values (OAI-PMH.xsd).
_PREFIX = re.compile(r"[A-Za-z0-9\-_.!~*'()]+")
_SET = re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*")
# Characters an argument may not hold: what XML 1.0 cannot carry (an echo would be
# impossible), and private-use characters (never in an identifier of ours).
_UNFIT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ue000-\uf8ff\ufffe\uffff]")
# Longer arguments are not ours: refused without being echoed or parsed.
_MAX_ARGUMENT = 2000


class OaiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Repository:
    """The registry answering: where it is, who runs it, its page size, and the time."""

    conn: psycopg.Connection
    base_url: str  # the OAI-PMH endpoint, as harvested
    name: str
    admin_email: str
    registry_ivoid: str
    page: int
    now: datetime  # the response time, whole seconds, UTC


class _Fragments:
    """Stored records spliced into a response as they are stored (XML fragments that declare
    their own namespaces): a harvest neither parses nor re-serialises them. The envelope
    holds a processing instruction where each goes: in serialised XML, ``<?`` comes only from
    a real processing instruction (text and attribute values escape ``<``), so no input can
    forge one."""

    _TARGET = "vo-node-record"
    _MARK = re.compile(rb"<\?vo-node-record ([0-9]+)\?>")

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def place(self, parent: etree._Element, fragment: bytes) -> None:
        parent.append(etree.ProcessingInstruction(self._TARGET, str(len(self.parts))))
        self.parts.append(fragment)

    def splice(self, envelope: bytes) -> bytes:
        pieces = self._MARK.split(envelope)
        # split alternates text and captured marker numbers
        for i in range(1, len(pieces), 2):
            pieces[i] = self.parts[int(pieces[i])]
        return b"".join(pieces)


def respond(repository: Repository, arguments: Mapping[str, Sequence[str]]) -> bytes:
    fragments = _Fragments()
    root = etree.Element(f"{{{OAI}}}OAI-PMH", nsmap={"oai": OAI, "xsi": XSI})
    root.set(f"{{{XSI}}}schemaLocation", f"{OAI} {OAI_SCHEMA}")
    _text(root, "responseDate", _stamp(repository.now))
    request = _text(root, "request", repository.base_url)
    try:
        verb, args = _checked(arguments)
        # The request's attributes are echoed only when they were understood (OAI-PMH 3.2).
        request.set("verb", verb)
        for name, value in sorted(args.items()):
            request.set(name, value)
        root.append(_VERB_HANDLERS[verb](repository, args, fragments))
    except OaiError as error:
        if error.code in ("badVerb", "badArgument"):
            request.attrib.clear()
        _text(root, "error", error.message).set("code", error.code)
    return fragments.splice(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def _checked(arguments: Mapping[str, Sequence[str]]) -> tuple[str, dict[str, str]]:
    verbs = arguments.get("verb", [])
    if len(verbs) != 1:
        raise OaiError("badVerb", "the verb argument is repeated" if verbs else "no verb")
    verb = verbs[0]
    if verb not in _VERBS:
        raise OaiError("badVerb", f"{_shown(verb)} is not an OAI-PMH verb")
    required, optional, exclusive = _VERBS[verb]
    args: dict[str, str] = {}
    for name, values in arguments.items():
        if name == "verb":
            continue
        if name not in required | optional and name != exclusive:
            raise OaiError("badArgument", f"{verb} takes no argument {_shown(name)}")
        if len(values) != 1:
            raise OaiError("badArgument", f"the argument {name} is repeated")
        if len(values[0]) > _MAX_ARGUMENT:
            raise OaiError("badArgument", f"the argument {name} is too long")
        if _UNFIT.search(values[0]):
            raise OaiError("badArgument", f"the argument {name} holds characters it cannot")
        args[name] = values[0]
    if "metadataPrefix" in args and not _PREFIX.fullmatch(args["metadataPrefix"]):
        raise OaiError("badArgument", "metadataPrefix is not a metadata prefix")
    if "set" in args and not _SET.fullmatch(args["set"]):
        raise OaiError("badArgument", "set is not a setSpec")
    if exclusive and exclusive in args:
        if len(args) > 1:
            raise OaiError("badArgument", f"{exclusive} is an exclusive argument")
        return verb, args
    missing = sorted(required - args.keys())
    if missing:
        raise OaiError("badArgument", f"{verb} requires {' and '.join(missing)}")
    return verb, args


def _shown(value: str) -> str:
    return repr(value[:40] + ("..." if len(value) > 40 else ""))


def _text(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{OAI}}}{tag}")
    if text is not None:
        element.text = text
    return element


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the verbs ---------------------------------------------------------------------------


def _identify(
    repository: Repository, args: Mapping[str, str], fragments: _Fragments
) -> etree._Element:
    conn = repository.conn
    element = etree.Element(f"{{{OAI}}}Identify")
    _text(element, "repositoryName", repository.name)
    _text(element, "baseURL", repository.base_url)
    _text(element, "protocolVersion", "2.0")
    _text(element, "adminEmail", repository.admin_email)
    _text(element, "earliestDatestamp", _stamp(store.earliest(conn) or repository.now))
    # Deleted records are never dropped from the store.
    _text(element, "deletedRecord", "persistent")
    _text(element, "granularity", GRANULARITY)
    # Registry Interfaces: Identify describes the registry with its own VOResource record.
    own = store.record(conn, repository.registry_ivoid, "ivo_vor")
    if own is not None and not own.deleted:
        fragments.place(_text(element, "description"), own.xml)
    return element


def _list_metadata_formats(
    repository: Repository, args: Mapping[str, str], fragments: _Fragments
) -> etree._Element:
    if "identifier" in args and store.record(repository.conn, args["identifier"], None) is None:
        raise OaiError("idDoesNotExist", f"no record {_shown(args['identifier'])}")
    element = etree.Element(f"{{{OAI}}}ListMetadataFormats")
    for prefix, (schema, namespace) in FORMATS.items():
        entry = _text(element, "metadataFormat")
        _text(entry, "metadataPrefix", prefix)
        _text(entry, "schema", schema)
        _text(entry, "metadataNamespace", namespace)
    return element


def _list_sets(
    repository: Repository, args: Mapping[str, str], fragments: _Fragments
) -> etree._Element:
    if "resumptionToken" in args:  # this list is never split
        raise OaiError("badResumptionToken", "ListSets issues no resumption tokens")
    element = etree.Element(f"{{{OAI}}}ListSets")
    entry = _text(element, "set")
    _text(entry, "setSpec", MANAGED_SET)
    _text(entry, "setName", "Resources published by this registry")
    return element


def _get_record(
    repository: Repository, args: Mapping[str, str], fragments: _Fragments
) -> etree._Element:
    prefix = _format(args["metadataPrefix"])
    found = store.record(repository.conn, args["identifier"], prefix)
    if found is None:
        raise OaiError("idDoesNotExist", f"no record {_shown(args['identifier'])}")
    element = etree.Element(f"{{{OAI}}}GetRecord")
    element.append(_record(found, fragments))
    return element


def _list_identifiers(
    repository: Repository, args: Mapping[str, str], fragments: _Fragments
) -> etree._Element:
    return _list(repository, args, "ListIdentifiers", fragments)


def _list_records(
    repository: Repository, args: Mapping[str, str], fragments: _Fragments
) -> etree._Element:
    return _list(repository, args, "ListRecords", fragments)


@dataclass(frozen=True)
class _Harvest:
    """Where a list stands: what the resumption token carries."""

    verb: str
    prefix: str
    start: datetime | None
    end: datetime | None  # only an until asked for
    after: str
    cursor: int
    size: int  # completeListSize, counted at the first page

    def token(self) -> str:
        state = {
            "v": self.verb,
            "p": self.prefix,
            "f": int(self.start.timestamp()) if self.start else None,
            "u": int(self.end.timestamp()) if self.end else None,
            "a": self.after,
            "c": self.cursor,
            "n": self.size,
        }
        raw = json.dumps(state, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_token(cls, verb: str, token: str) -> _Harvest:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            state = json.loads(raw)
            harvest = cls(
                str(state["v"]),
                str(state["p"]),
                None if state["f"] is None else _moment(state["f"]),
                None if state["u"] is None else _moment(state["u"]),
                str(state["a"]),
                int(state["c"]),
                int(state["n"]),
            )
        except (ValueError, KeyError, TypeError, OverflowError, binascii.Error):
            raise OaiError("badResumptionToken", "this resumption token is not ours") from None
        if (
            harvest.verb != verb
            or harvest.prefix not in FORMATS
            or harvest.cursor < 0
            or harvest.size < 0
            or _UNFIT.search(harvest.after)
            or len(harvest.after) > _MAX_ARGUMENT
        ):
            raise OaiError("badResumptionToken", f"this resumption token is not one of {verb}")
        return harvest


def _moment(seconds: object) -> datetime:
    """A token's instant: whole seconds within the years 1-9999 (an until's last
    microseconds are added to it, up to datetime's end)."""
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise TypeError("not a time")
    if not -62135596800 <= seconds <= 253402300799:
        raise ValueError("out of range")
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def _list(
    repository: Repository, args: Mapping[str, str], verb: str, fragments: _Fragments
) -> etree._Element:
    conn = repository.conn
    if "resumptionToken" in args:
        harvest = _Harvest.from_token(verb, args["resumptionToken"])
    else:
        prefix = _format(args["metadataPrefix"])
        start, end = _window(args.get("from"), args.get("until"))
        if args.get("set", MANAGED_SET) != MANAGED_SET:
            raise OaiError("noRecordsMatch", f"there is no set {_shown(args['set'])}")
        harvest = _Harvest(verb, prefix, start, end, "", 0, 0)
    # The window's end is inclusive to the second. Without an until, none: a record changed
    # during the harvest comes in its new version if its identifier is still ahead, and with
    # the next harvest from this one's first response time either way.
    end = harvest.end + timedelta(microseconds=999_999) if harvest.end else None
    window = store.Window(harvest.start, end, harvest.after)
    headers_only = verb == "ListIdentifiers"
    records = store.page(
        conn, window, repository.page + 1, None if headers_only else harvest.prefix
    )
    if not records:  # (records are never removed: a token always has records after it)
        raise OaiError("noRecordsMatch", "no record has a datestamp in this range")
    element = etree.Element(f"{{{OAI}}}{verb}")
    shown = records[: repository.page]
    for found in shown:
        element.append(_header(found) if headers_only else _record(found, fragments))
    if len(records) > repository.page or harvest.cursor:
        # Every page of a split list ends with a token; the last one's is empty (3.5).
        token = _text(element, "resumptionToken")
        token.set("cursor", str(harvest.cursor))
        # Counted once per harvest: the size when it started (OAI-PMH allows an estimate).
        size = harvest.size or store.count(conn, window)
        token.set("completeListSize", str(size))
        if len(records) > repository.page:
            following = _Harvest(
                verb,
                harvest.prefix,
                harvest.start,
                harvest.end,
                shown[-1].ivoid,
                harvest.cursor + len(shown),
                size,
            )
            token.text = following.token()
    return element


def _format(prefix: str) -> str:
    if prefix not in FORMATS:
        raise OaiError(
            "cannotDisseminateFormat",
            f"no metadata format {_shown(prefix)}; there are {', '.join(FORMATS)}",
        )
    return prefix


def _window(start: str | None, end: str | None) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``until`` as instants: a day means its first second for ``from`` and
    its last for ``until``; both must have the same granularity."""
    if start and end and len(start) != len(end):
        raise OaiError("badArgument", "from and until must have the same granularity")
    low = _datestamp("from", start, last=False)
    high = _datestamp("until", end, last=True)
    if low and high and low > high:
        raise OaiError("badArgument", "from is later than until")
    return low, high


def _datestamp(name: str, value: str | None, *, last: bool) -> datetime | None:
    if value is None:
        return None
    try:
        if _SECOND.fullmatch(value):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if _DAY.fullmatch(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1, seconds=-1) if last else day
    except ValueError:
        pass
    raise OaiError("badArgument", f"{name} is not a UTC datestamp ({GRANULARITY} or YYYY-MM-DD)")


def _header(found: store.StoredRecord) -> etree._Element:
    header = etree.Element(f"{{{OAI}}}header")
    if found.deleted:
        header.set("status", "deleted")
    _text(header, "identifier", found.ivoid)
    _text(header, "datestamp", _stamp(found.updated))
    _text(header, "setSpec", MANAGED_SET)
    return header


def _record(found: store.StoredRecord, fragments: _Fragments) -> etree._Element:
    element = etree.Element(f"{{{OAI}}}record")
    element.append(_header(found))
    if not found.deleted:  # a deleted record is its header alone
        fragments.place(_text(element, "metadata"), found.xml)
    return element


_VERB_HANDLERS = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _list_identifiers,
    "ListRecords": _list_records,
}
