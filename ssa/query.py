"""SSA queryData as parameterised SQL over ``corot.products``, run through the QueryRunner.

``corot.products`` is a security-invoker view: the runner names the caller, and row-level
security shows each caller only the products the policy lets them see. Nothing here reads
``archive.*``. Values only ever travel as parameters; the constants of the SELECT list (the
node's DID base and publisher) as quoted literals. The cone is written so that the GiST index
on the stars' positions answers it (pgSphere ``<@ scircle``). Must not import Flask.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ssa.fields import FIELDS, FITS_MIME, ICRS, PUBDID_ID, SPECS
from ssa.params import CSV_MIME, PNG_MIME, VOTABLE_MIME, SsaQuery
from vo_node.datalink.descriptors import links_descriptor
from vo_node.query import QueryResult, QueryRunner, streamed
from vo_node.votable import write_votable

RESULT_INFOS = (("SERVICE_PROTOCOL", "1.1"), ("REQUEST", "queryData"))
_CENTRE = sql.SQL("spoint(radians(%s), radians(%s))")


@dataclass(frozen=True)
class SsaSql:
    """The statement of a queryData request and its parameters, in order."""

    statement: sql.Composed
    params: list[Any]


# Where each format of a product is served, after {base_url}/products/<id>.
SUFFIXES = {FITS_MIME: ".fits", VOTABLE_MIME: ".vot", CSV_MIME: ".csv", PNG_MIME: "/preview.png"}


def select_list(did_base: str, publisher: str, base_url: str) -> sql.Composed:
    """The SELECT list of :data:`ssa.fields.FIELDS`, the node's constants as literals."""
    return sql.SQL(", ").join(
        sql.SQL(field.sql).format(
            did_base=sql.Literal(did_base),
            publisher=sql.Literal(publisher),
            base_url=sql.Literal(base_url),
        )
        + sql.SQL(" AS ")
        + sql.Identifier(field.spec.name)
        for field in FIELDS
    )


def _formats(formats: tuple[str, ...]) -> sql.Composed:
    """The formats of the rows as a VALUES list ``fmt(k, mime, suffix)``: one row per product
    and format."""
    return sql.SQL("(VALUES {}) AS fmt(k, mime, suffix)").format(
        sql.SQL(", ").join(
            sql.SQL("({}, {}, {})").format(
                sql.Literal(k), sql.Literal(mime), sql.Literal(SUFFIXES[mime])
            )
            for k, mime in enumerate(formats)
        )
    )


def build(query: SsaQuery, did_base: str, publisher: str, base_url: str) -> SsaSql:
    """The SQL for ``query`` (SSA 1.1 section 8.4): every constraint ANDed together."""
    where: list[sql.Composable] = []
    params: list[Any] = []
    if not query.possible:
        where.append(sql.SQL("false"))
    if query.pos is not None and query.size is not None:
        # SIZE is a diameter (SSA 1.1 section 8.4.1.2): the cone's radius is half of it.
        where.append(sql.SQL("pos <@ scircle({}, radians(%s))").format(_CENTRE))
        params += [*query.pos, query.size / 2]
    if query.time is not None:
        low, high = query.time  # overlap: the light curve ends after low, starts before high
        if low is not None:
            where.append(sql.SQL("t_max >= %s"))
            params.append(low)
        if high is not None:
            where.append(sql.SQL("t_min <= %s"))
            params.append(high)
    if query.corotids:
        where.append(sql.SQL("corotid = ANY(%s::bigint[])"))
        params.append(list(query.corotids))
    if query.channels:
        where.append(sql.SQL("channel = ANY(%s::text[])"))
        params.append(list(query.channels))
    if query.product_ids:
        where.append(sql.SQL("product_id = ANY(%s::bigint[])"))
        params.append(list(query.product_ids))
    if query.mtime is not None:
        low_time, high_time = query.mtime
        if low_time is not None:
            where.append(sql.SQL("ingested_at >= %s"))
            params.append(low_time)
        if high_time is not None:
            where.append(sql.SQL("ingested_at <= %s"))
            params.append(high_time)
    if query.run_code is not None:
        where.append(sql.SQL("run_code = %s"))
        params.append(query.run_code)
    statement = sql.SQL("SELECT {} FROM corot.products CROSS JOIN {}").format(
        select_list(did_base, publisher, base_url), _formats(query.formats)
    )
    if where:
        statement += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(where)
    # Nearest first when there is a centre (the Query.Score order SSA suggests), else by id:
    # the same request gives the same rows, and TOP picks the best.
    if query.pos is not None:
        statement += sql.SQL(" ORDER BY pos <-> {}, product_id, fmt.k").format(_CENTRE)
        params += list(query.pos)
    else:
        statement += sql.SQL(" ORDER BY product_id, fmt.k")
    # One row past MAXREC tells an overflow (the runner reads no more); TOP is a plain cut.
    limit = query.maxrec + 1 if query.top is None else min(query.top, query.maxrec + 1)
    statement += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
    return SsaSql(statement, params)


def execute(
    query: SsaQuery,
    runner: QueryRunner,
    timeout_s: float,
    *,
    did_base: str,
    publisher: str,
    base_url: str,
    identity: str | None = None,
) -> Iterator[bytes]:
    """Start the query; return the result VOTable's chunks (the query ends with them).

    Errors before the first row (the database refusing, a timeout, no database) raise here,
    so that the caller can answer with an error document.
    """
    built = build(query, did_base, publisher, base_url)
    context = runner.run(
        built.statement, built.params, maxrec=query.maxrec, timeout_s=timeout_s, identity=identity
    )

    def write(result: QueryResult) -> Iterator[bytes]:
        if len(result.columns) != len(SPECS):
            raise RuntimeError("the SSA SELECT list and its FIELDs disagree")
        return write_votable(
            SPECS,
            result.rows,
            maxrec=query.maxrec,
            coosys=[ICRS],
            resource_infos=RESULT_INFOS,
            table_name="results",
            # Every row's dataset has its DataLink links (SSA results, DataLink 1.1 4.1).
            after=[links_descriptor(f"{base_url}/datalink/links", PUBDID_ID)],
        )

    return streamed(context, write)


def public_position(runner: QueryRunner, timeout_s: float) -> tuple[float, float] | None:
    """The position of a product anyone may see (the capabilities' test query), asked as the
    anonymous caller; None in an archive with nothing public."""
    statement = sql.SQL("SELECT ra, dec FROM corot.products ORDER BY product_id LIMIT 1")
    with runner.run(statement, [], maxrec=1, timeout_s=timeout_s, identity=None) as result:
        for ra, dec in result.rows:
            return float(ra), float(dec)
    return None
