"""TAP table uploads (TAP 1.1 section 3.1; DALI 1.1 section 3.4.5): the UPLOAD parameter and
where each table comes from.

``UPLOAD=name,uri`` (repeated, or several pairs joined by ``;``) names a table the query
reads as ``TAP_UPLOAD.name``. ``param:part`` is a part of the same multipart request (saved
to a file by the web tier or the job store); ``http(s)://`` URLs are fetched only from hosts
the operator allows (``VO_NODE_UPLOAD_HOSTS``), never following a redirect elsewhere: the
node must not become a way to reach what only it can reach. Every source is read with the
byte limit applied while reading, not after.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vo_node.adql.reserved import RESERVED
from vo_node.http.params import DaliParams, UsageError

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_CHUNK = 1 << 16


@dataclass(frozen=True)
class UploadSpec:
    """One ``name,uri`` pair of the UPLOAD parameter."""

    name: str
    uri: str

    @property
    def part(self) -> str | None:
        """The multipart part name of an inline upload (``param:part``)."""
        # URI schemes are case-insensitive (RFC 3986); the part name is not.
        return self.uri[len("param:") :] if self.uri[:6].lower() == "param:" else None


def upload_specs(params: DaliParams) -> tuple[UploadSpec, ...]:
    """Every table the request uploads, checked: names are ADQL table names, each once;
    sources are ``param:`` parts or http(s) URLs."""
    specs: list[UploadSpec] = []
    for value in params.getlist("UPLOAD"):
        for pair in value.split(";"):
            if not pair.strip():
                continue
            name, comma, uri = pair.partition(",")
            name, uri = name.strip(), uri.strip()
            if not comma or not name or not uri:
                raise UsageError(
                    f"UPLOAD must be 'name,uri' (e.g. mine,param:table1), not {pair!r}"
                )
            if not _NAME.match(name) or name.upper() in RESERVED:
                raise UsageError(
                    f"upload name {name!r} is not an ADQL table name (a letter, then letters, "
                    "digits or _; not a reserved word)"
                )
            if any(s.name.lower() == name.lower() for s in specs):
                raise UsageError(f"UPLOAD names table {name!r} more than once")
            scheme = uri.split(":", 1)[0].lower()
            if scheme == "param":
                if not uri[len("param:") :]:
                    raise UsageError(f"upload {name!r}: param: needs the name of a request part")
            elif scheme not in ("http", "https"):
                raise UsageError(
                    f"upload {name!r}: {scheme}: URIs are not accepted; use param: (a part of "
                    "this request) or an http(s) URL"
                )
            else:
                _check_url(name, uri)
            specs.append(UploadSpec(name, uri))
    return tuple(specs)


def _check_url(name: str, uri: str) -> None:
    """A URL that urllib will take as it is: a host, a valid port, no spaces or controls."""
    problem = None
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in uri):
        problem = "it contains spaces or control characters (percent-encode them)"
    else:
        try:
            parts = urlsplit(uri)
            parts.port  # noqa: B018 (raises ValueError for a port out of range)
            if not parts.hostname:
                problem = "it names no host"
        except ValueError as exc:
            problem = str(exc)
    if problem:
        raise UsageError(f"upload {name!r}: {uri!r} is not a usable URL: {problem}")


def locate(
    specs: Sequence[UploadSpec],
    parts: Mapping[str, Path],
    directory: Path,
    allowed_hosts: Sequence[str],
    limit: int,
    timeout_s: float = 30.0,
) -> dict[str, Path]:
    """The file holding each upload: its saved request part, or the URL fetched into
    ``directory``; raises :class:`UsageError` for a missing part or a refused URL."""
    files: dict[str, Path] = {}
    for number, spec in enumerate(specs):
        part = spec.part
        if part is not None:
            if part not in parts:
                known = ", ".join(sorted(parts)) or "none"
                raise UsageError(
                    f"upload {spec.name!r} refers to request part {part!r}, which was not sent "
                    f"(parts sent: {known})"
                )
            files[spec.name] = parts[part]
        else:
            target = directory / f"url-{number:03d}"
            fetch(spec, target, allowed_hosts, limit, timeout_s)
            files[spec.name] = target
    return files


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx then raises HTTPError, reported below


def host_allowed(url: str, allowed_hosts: Sequence[str]) -> bool:
    """Whether ``url``'s host (or host:port) is one the operator listed."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    with_port = f"{host}:{parts.port}" if parts.port else host
    allowed = {h.strip().lower() for h in allowed_hosts if h.strip()}
    return host in allowed or with_port in allowed


def fetch(
    spec: UploadSpec, target: Path, allowed_hosts: Sequence[str], limit: int, timeout_s: float
) -> None:
    """Download an upload URL into ``target``, within ``limit`` bytes."""
    if not host_allowed(spec.uri, allowed_hosts):
        host = urlsplit(spec.uri).netloc or "(none)"
        where = (
            f"only from {', '.join(allowed_hosts)}"
            if allowed_hosts
            else "not at all here; send the table inline (param:)"
        )
        raise UsageError(f"upload {spec.name!r}: URL uploads from {host} are refused: {where}")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(spec.uri, timeout=timeout_s) as response, target.open("wb") as out:
            size = 0
            while chunk := response.read(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UsageError(
                        f"upload {spec.name!r} is larger than the limit of {limit} bytes"
                    )
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise UsageError(
            f"upload {spec.name!r}: {spec.uri} answered HTTP {exc.code}"
            + (" (redirects are not followed)" if 300 <= exc.code < 400 else "")
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageError(f"upload {spec.name!r}: cannot read {spec.uri}: {reason}") from None
