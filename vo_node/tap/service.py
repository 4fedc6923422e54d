"""TAP query execution shared by sync and async (TAP 1.1 section 2.3; DESIGN "straight paths").

``TapRequest.parse`` reads the parameters once; ``execute`` translates the ADQL, starts the
query through ``vo_node/query.py`` (so that errors before the first byte become a DALI error
document) and returns the chosen writer's chunks, which end the query when they end or are
closed. Sync streams them to the client; async writes them to a file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from tap_schema import METADATA, Column
from vo_node.adql import OutputColumn, Translation, translate
from vo_node.datalink.descriptors import links_descriptor
from vo_node.formats import Format, resolve_format
from vo_node.http.params import DaliParams, UsageError
from vo_node.query import QueryResult, QueryRunner, ResultColumn, streamed
from vo_node.settings import Settings
from vo_node.tap.upload_tables import UploadedTable, read_upload
from vo_node.tap.uploads import UploadSpec, locate, upload_specs
from vo_node.votable import FieldSpec, ResultTypeError
from vo_node.votable.copyrows import copy_supported

LANGUAGES = {"ADQL", "ADQL-2.0", "ADQL-2.1"}


@dataclass(frozen=True)
class TapRequest:
    """A TAP query request after parameter checks (TAP 1.1 section 2.3)."""

    query: str
    maxrec: int
    format: Format
    uploads: tuple[UploadSpec, ...] = ()

    @classmethod
    def parse(cls, params: DaliParams, settings: Settings) -> TapRequest:
        request = params.get("REQUEST")
        if request is not None and request.lower() != "doquery":
            raise UsageError(f"REQUEST={request} is not supported; use doQuery or leave it out")
        lang = params.get("LANG")
        if lang is None:
            raise UsageError("LANG is required: LANG=ADQL")
        if lang.upper() not in LANGUAGES:
            raise UsageError(f"LANG={lang} is not supported; this service speaks ADQL (2.0, 2.1)")
        query = params.get("QUERY")
        if not query or not query.strip():
            raise UsageError("QUERY is required: an ADQL query")
        maxrec = params.integer("MAXREC", settings.maxrec_default) or 0
        fmt = resolve_format(params.get("RESPONSEFORMAT") or params.get("FORMAT"))
        return cls(query, min(maxrec, settings.maxrec_hard), fmt, upload_specs(params))

    def read_uploads(
        self, parts: Mapping[str, Path], directory: Path, settings: Settings
    ) -> list[UploadedTable]:
        """The uploaded tables, read into memory: ``parts`` are the request's saved parts,
        ``directory`` receives URL uploads (and may go once this returns)."""
        files = locate(self.uploads, parts, directory, settings.upload_hosts, settings.upload_limit)
        return [read_upload(name, path, settings.upload_rows) for name, path in files.items()]


def result_fields(
    declared: Sequence[OutputColumn], returned: Sequence[ResultColumn]
) -> list[FieldSpec]:
    """FIELDs from the declarations where a column is published, from the database types
    (with what the translator knows: unit, arraysize, xtype) where it is computed."""
    fields = []
    for index, column in enumerate(returned):
        out = declared[index] if index < len(declared) else None
        name = out.name if out is not None else column.name
        if out is not None and out.column is not None:
            fields.append(_declared_field(out.column, name))
        else:
            fields.append(
                FieldSpec.from_pg_type(
                    name,
                    column.type_oid,
                    arraysize=out.arraysize if out else None,
                    unit=out.unit if out else None,
                    xtype=out.xtype if out else None,
                )
            )
    return fields


LINKS_FIELD_ID = "datalink_id"


def _with_links(
    declared: Sequence[OutputColumn], fields: list[FieldSpec], links_url: str
) -> tuple[list[FieldSpec], str | None]:
    """The fields with an XML ID on the first that holds DataLink identifiers, and the
    descriptor that refers to it; the fields unchanged and None when none does."""
    for index, out in enumerate(declared[: len(fields)]):
        if out.column is not None and out.column.datalink:
            marked = list(fields)
            marked[index] = dataclasses.replace(fields[index], id=LINKS_FIELD_ID)
            return marked, links_descriptor(links_url, LINKS_FIELD_ID)
    return fields, None


@lru_cache(maxsize=4096)
def _declared_field(column: Column, name: str) -> FieldSpec:
    return FieldSpec.from_column(column, name=name)


@lru_cache(maxsize=1024)
def _translate_published(adql: str) -> Translation:
    """Translations of queries on the published tables, kept: clients repeat their queries
    (a cone search per target), and parsing costs more than running a small one. Errors are
    not kept (lru_cache does not store exceptions)."""
    return translate(adql, METADATA)


def execute(
    tap: TapRequest,
    runner: QueryRunner,
    timeout_s: float,
    identity: str | None = None,
    on_backend: Callable[[int], None] | None = None,
    uploads: Sequence[UploadedTable] = (),
    links_url: str | None = None,
) -> Iterator[bytes]:
    """Start the query; return the result document's chunks (the query ends with them).

    ``links_url`` (the DataLink {links} endpoint): a VOTable result with a column of dataset
    identifiers (declared ``datalink``) carries a service descriptor for it.

    Everything that can fail before the first row (ADQL errors, database refusals, a
    timeout while planning) raises here, so the caller can answer with an error document.
    """
    if uploads:
        tables = {u.declaration.name: (u.relation, u.declaration) for u in uploads}
        translation = translate(tap.query, METADATA, tables)
    else:
        translation = _translate_published(tap.query)
    copied_writer = tap.format.copied_writer
    described: list[FieldSpec] = []

    def copy_if(columns: list[ResultColumn]) -> bool:
        # Binary COPY rows where the format's writer takes them and every column has a
        # type that writer encodes; otherwise rows come as tuples.
        try:
            described[:] = result_fields(translation.columns, columns)
        except ResultTypeError:
            return False  # the tuple path reports it, as for every other format
        return copy_supported(described, [c.type_oid for c in columns])

    context = runner.run(
        translation.sql,
        maxrec=tap.maxrec,
        timeout_s=timeout_s,
        identity=identity,
        on_backend=on_backend,
        uploads=[u.temp for u in uploads],
        copy_if=copy_if if copied_writer is not None else None,
    )

    def write(result: QueryResult) -> Iterable[bytes]:
        fields = described if result.copied else result_fields(translation.columns, result.columns)
        options: dict[str, Any] = {"resource_infos": [("QUERY", tap.query)]}
        if tap.format.descriptors and links_url is not None:
            fields, descriptor = _with_links(translation.columns, fields, links_url)
            if descriptor is not None:
                options["after"] = [descriptor]
        if result.copied and copied_writer is not None:
            types = [c.type_oid for c in result.columns]
            return copied_writer(fields, result.rows, tap.maxrec, copy_types=types, **options)
        return tap.format.writer(fields, result.rows, tap.maxrec, **options)

    return streamed(context, write)
