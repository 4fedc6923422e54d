"""The rows of a DataLink 1.1 ``{links}`` response for light-curve products.

For each product the caller may see: the stored FITS file and its VOTable and CSV
renderings (``#this``, content qualifier ``#timeseries``), the PNG plot (``#preview``), a
SODA cut-out service (``#cutout``, with its descriptor), the N1 light curve of the same star
and run (``#progenitor``), the other versions of the same product (``#coderived``: made by
another pipeline version from the same raw data; the core vocabulary has no term for "a
version of"), the page that documents the documents (``#documentation``), and for an N2
light curve whose pulsation features are computed (issue 8), those derived data
(``#derivation``): its features and frequencies (TAP queries of corot.features and
corot.frequencies, so that the answer is the published table with its metadata) and its
amplitude spectrum (a VOTable and a plot with the frequencies marked).

An identifier that names no product and one that names a product the caller may not see
get the same fault row, so that the response never tells that a proprietary product exists.

Reads go through the caller's transaction (row-level security); the same two queries serve
one or a thousand identifiers. Must not import Flask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import psycopg

from vo_node.datalink.ids import did, parse_id
from vo_node.http.params import quoted
from vo_node.votable import FieldSpec

STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
LINKS_MIME = "application/x-votable+xml;content=datalink"
FITS_MIME = "application/fits"
VOTABLE_MIME = "application/x-votable+xml"
CSV_MIME = "text/csv"
PNG_MIME = "image/png"
HTML_MIME = "text/html"
TIMESERIES = "#timeseries"  # http://www.ivoa.net/rdf/product-type#timeseries

# The columns of a DataLink 1.1 {links} table, in the standard's order.
FIELDS = (
    FieldSpec("ID", "char", ucd="meta.id;meta.main", description="Input identifier"),
    FieldSpec("access_url", "char", ucd="meta.ref.url", description="Link to data or service"),
    FieldSpec(
        "service_def", "char", ucd="meta.ref", description="Reference to a service descriptor"
    ),
    FieldSpec(
        "error_message",
        "char",
        ucd="meta.code.error",
        description="Why no link could be made for the identifier",
    ),
    FieldSpec("description", "char", ucd="meta.note", description="What the link leads to"),
    FieldSpec(
        "semantics",
        "char",
        ucd="meta.code",
        description="Term of http://www.ivoa.net/rdf/datalink/core: what the link is to the ID",
    ),
    FieldSpec("content_type", "char", ucd="meta.code.mime", description="MIME type"),
    FieldSpec(
        "content_length",
        "long",
        unit="byte",
        ucd="phys.size;meta.file",
        description="Size of the file, where known before it is made",
    ),
    FieldSpec(
        "content_qualifier",
        "char",
        ucd="meta.code.class",
        description="Term of http://www.ivoa.net/rdf/product-type: what the linked data is",
    ),
    FieldSpec(
        "local_semantics",
        "char",
        ucd="meta.code",
        description="This service's name for links of the same kind across identifiers",
    ),
    FieldSpec(
        "link_auth",
        "char",
        ucd="meta.code",
        description="false: open to all; true: needs credentials with rights",
    ),
    FieldSpec(
        "link_authorized",
        "boolean",
        ucd="meta.code",
        description="Whether this caller may follow the link",
    ),
)
Row = tuple[object, ...]


@dataclass(frozen=True)
class Product:
    """What the links of one product are made from (a row the caller may see)."""

    product_id: int
    level: str
    product_type: str
    series: str
    version: str
    file_size: int
    star_id: int
    run_id: int
    corotid: int
    run_code: str
    t_min: float
    t_max: float
    public: bool  # released N2/N3: anyone may follow its links
    layout: str = ""
    archive_path: str = ""
    sha256: str = ""
    good_sites: tuple[str, ...] = ()
    version_rank: tuple[int, ...] = field(default=(), compare=False)
    # Its pulsation features are computed from enough good points for a periodogram.
    has_features: bool = False

    @property
    def progenitor_type(self) -> str | None:
        """The product type of its N1 light curve (EN2_STAR_CHR <- EN1_STAR_CHR)."""
        if self.level != "N2":
            return None
        return self.product_type.replace("N2_", "N1_", 1)


_COLUMNS = (
    "p.product_id, p.level, p.product_type, p.series, p.version, p.file_size, p.star_id,"
    " p.run_id, s.source_id, r.code, p.t_min, p.t_max,"
    " p.level IN ('N2', 'N3') AND p.released_on <= current_date, p.layout, p.archive_path,"
    " p.sha256,"
    " coalesce((SELECT array_agg(c.site ORDER BY c.site) FROM archive.product_copies c"
    "  WHERE c.product_id = p.product_id AND c.status = 'ok'), '{}'), p.version_rank,"
    " EXISTS (SELECT 1 FROM archive.features f"
    "  WHERE f.product_id = p.product_id AND f.epoch IS NOT NULL)"
    " FROM archive.products p JOIN archive.stars s USING (star_id)"
    " JOIN archive.runs r USING (run_id)"
)


def _product(row: Sequence[object]) -> Product:
    values = list(row)
    values[15] = str(values[15]).strip()
    values[16] = tuple(values[16])  # type: ignore[arg-type]
    values[17] = tuple(values[17])  # type: ignore[arg-type]
    return Product(*values)  # type: ignore[arg-type]


def visible_products(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, Product]:
    """The products of ``ids`` the caller may see (row-level security decides)."""
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT {_COLUMNS} WHERE p.product_id = ANY(%s::bigint[])", (list(ids),)
    ).fetchall()
    return {row[0]: _product(row) for row in rows}


def relatives(conn: psycopg.Connection, products: Sequence[Product]) -> list[Product]:
    """Every product the caller may see of the same stars and runs as ``products`` (their
    other versions and progenitors are among them)."""
    if not products:
        return []
    pairs = sorted({(p.star_id, p.run_id) for p in products})
    rows = conn.execute(
        f"SELECT {_COLUMNS} WHERE (p.star_id, p.run_id) IN"
        " (SELECT * FROM unnest(%s::bigint[], %s::integer[]))",
        ([s for s, _ in pairs], [r for _, r in pairs]),
    ).fetchall()
    return [_product(row) for row in rows]


@dataclass(frozen=True)
class Urls:
    """Where the node serves things (its public base URL) and how it names datasets."""

    base: str
    did_base: str

    def product(self, product_id: int, suffix: str) -> str:
        return f"{self.base}/products/{product_id}{suffix}"

    @property
    def documentation(self) -> str:
        return f"{self.base}/docs/lightcurves"

    @property
    def features_documentation(self) -> str:
        return f"{self.base}/docs/features"

    @property
    def soda(self) -> str:
        return f"{self.base}/datalink/soda"

    def tap_query(self, adql: str) -> str:
        """A synchronous TAP query of this node, as a URL (a VOTable of the result)."""
        return f"{self.base}/tap/sync?" + urlencode(
            {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": adql}
        )


def not_found(identifier: str) -> Row:
    message = (
        f"NotFoundFault: {quoted(identifier)} names no product of this archive that is "
        "available to you"
    )
    return _row(identifier, error=message, semantics="#this")


def usage_fault(identifier: str, did_base: str) -> Row:
    message = (
        f"UsageFault: {quoted(identifier)} is not an identifier of this service; expected "
        f"{did_base}?<number> or a product_id"
    )
    # A fault row still says what it stands for: the dataset itself (datalinklint wants a
    # semantics on every row).
    return _row(identifier, error=message, semantics="#this")


def _row(
    identifier: str,
    *,
    url: str | None = None,
    service_def: str | None = None,
    error: str | None = None,
    description: str | None = None,
    semantics: str | None = None,
    content_type: str | None = None,
    length: int | None = None,
    qualifier: str | None = None,
    local: str | None = None,
    auth: str | None = None,
    authorized: bool | None = None,
) -> Row:
    return (
        identifier,
        url,
        service_def,
        error,
        description,
        semantics,
        content_type,
        length,
        qualifier,
        local,
        auth,
        authorized,
    )


def _newest(candidates: list[Product]) -> Product | None:
    return max(candidates, key=lambda p: (p.version_rank, p.product_id), default=None)


def _related(
    identifier: str, other: Product, urls: Urls, semantics: str, local: str, text: str
) -> Row:
    """A link to the FITS file of another product the caller may see."""
    return _row(
        identifier,
        url=urls.product(other.product_id, ".fits"),
        description=f"{text} (product {did(urls.did_base, other.product_id)})",
        semantics=semantics,
        content_type=FITS_MIME,
        length=other.file_size,
        qualifier=TIMESERIES,
        local=local,
        auth="false" if other.public else "true",
        authorized=True,
    )


def product_links(
    identifier: str, product: Product, family: Sequence[Product], urls: Urls, soda_id: str
) -> list[Row]:
    """The rows for one product the caller may see; ``family`` holds the products of the same
    star and run the caller may see; ``soda_id`` names the SODA descriptor's RESOURCE."""
    auth = "false" if product.public else "true"
    name = (
        f"CoRoT {product.corotid}, run {product.run_code}, {product.product_type} {product.version}"
    )

    def link(**kwargs: object) -> Row:
        return _row(identifier, auth=auth, authorized=True, **kwargs)  # type: ignore[arg-type]

    pid = product.product_id
    rows = [
        link(
            url=urls.product(pid, ".fits"),
            description=f"Light curve of {name}: the archived FITS file, exactly its bytes",
            semantics="#this",
            content_type=FITS_MIME,
            length=product.file_size,
            qualifier=TIMESERIES,
            local="fits",
        ),
        link(
            url=urls.product(pid, ".vot"),
            description=(
                f"Light curve of {name} as a VOTable time series (time in MJD with TIMESYS, "
                "fluxes with UCDs and units, STATUS)"
            ),
            semantics="#this",
            content_type=VOTABLE_MIME,
            qualifier=TIMESERIES,
            local="votable",
        ),
        link(
            url=urls.product(pid, ".csv"),
            description=f"Light curve of {name} as CSV (the VOTable's columns)",
            semantics="#this",
            content_type=CSV_MIME,
            qualifier=TIMESERIES,
            local="csv",
        ),
        link(
            url=urls.product(pid, "/preview.png"),
            description=f"Plot of the light curve of {name} (flagged points marked)",
            semantics="#preview",
            content_type=PNG_MIME,
            local="preview",
        ),
        link(
            service_def=soda_id,
            description=(
                "Cut-out by time (MJD interval), choice of flux columns and format "
                "(FITS, VOTable, CSV), SODA 1.0"
            ),
            semantics="#cutout",
            qualifier=TIMESERIES,
            local="cutout",
        ),
    ]
    wanted = product.progenitor_type
    if wanted is not None:
        progenitor = _newest(
            [
                p
                for p in family
                if p.star_id == product.star_id
                and p.run_id == product.run_id
                and p.level == "N1"
                and p.product_type == wanted
            ]
        )
        if progenitor is not None:
            rows.append(
                _related(
                    identifier,
                    progenitor,
                    urls,
                    "#progenitor",
                    "n1",
                    f"The N1 light curve this product was made from: {progenitor.version}",
                )
            )
    versions = sorted(
        (
            p
            for p in family
            if p.star_id == product.star_id
            and p.run_id == product.run_id
            and p.level == product.level
            and p.series == product.series
            and p.product_id != pid
        ),
        key=lambda p: (p.version_rank, p.product_id),
    )
    for other in versions:
        rows.append(
            _related(
                identifier,
                other,
                urls,
                "#coderived",
                "version",
                f"Version {other.version} of the same light curve",
            )
        )
    rows.append(
        _documentation(
            identifier,
            urls.documentation,
            "How the light-curve documents are made: columns, times, flags",
            "documentation",
        )
    )
    if product.has_features:
        rows.extend(_derivations(identifier, product, name, urls, auth))
    return rows


def _derivations(identifier: str, product: Product, name: str, urls: Urls, auth: str) -> list[Row]:
    """The #derivation rows of a light curve with computed pulsation features, and the
    page that documents them."""
    pid = product.product_id

    def link(**kwargs: object) -> Row:
        return _row(identifier, semantics="#derivation", auth=auth, authorized=True, **kwargs)  # type: ignore[arg-type]

    return [
        link(
            url=urls.tap_query(f"SELECT * FROM corot.features WHERE product_id = {pid}"),
            description=(
                f"Pulsation features of {name}: variability class, dominant frequency, "
                "period, amplitude and S/N, false-alarm probability, total amplitude "
                "(corot.features, by TAP)"
            ),
            content_type=VOTABLE_MIME,
            local="features",
        ),
        link(
            url=urls.tap_query(
                f"SELECT * FROM corot.frequencies WHERE product_id = {pid} ORDER BY rank"
            ),
            description=(
                f"Frequencies of {name} found by prewhitening, with amplitude, phase and "
                "S/N (corot.frequencies, by TAP)"
            ),
            content_type=VOTABLE_MIME,
            local="frequencies",
        ),
        link(
            url=urls.product(pid, "/periodogram.vot"),
            description=f"Lomb-Scargle amplitude spectrum of {name} (VOTable)",
            content_type=VOTABLE_MIME,
            local="periodogram",
        ),
        link(
            url=urls.product(pid, "/periodogram.png"),
            description=f"Plot of the amplitude spectrum of {name}, the frequencies marked",
            content_type=PNG_MIME,
            local="periodogram-plot",
        ),
        _documentation(
            identifier,
            urls.features_documentation,
            "How the pulsation features are computed and classified",
            "features-documentation",
        ),
    ]


def _documentation(identifier: str, url: str, description: str, local: str) -> Row:
    """A #documentation row: a page of this node, open to all."""
    return _row(
        identifier,
        url=url,
        description=description,
        semantics="#documentation",
        content_type=HTML_MIME,
        local=local,
        auth="false",
        authorized=True,
    )


@dataclass
class LinksPlan:
    """What a {links} request resolved to: rows in request order, and the products whose
    SODA descriptors go with them."""

    rows: list[Row] = field(default_factory=list)
    cutouts: list[tuple[str, str, Product]] = field(default_factory=list)  # (id, ref, product)


def plan_links(conn: psycopg.Connection, identifiers: Sequence[str], urls: Urls) -> LinksPlan:
    """The {links} rows of ``identifiers`` (in their order; a repeated one is answered once
    per occurrence) as the caller of ``conn`` may see them."""
    parsed = {text: parse_id(text, urls.did_base) for text in identifiers}
    products = visible_products(conn, sorted({i for i in parsed.values() if i is not None}))
    family = relatives(conn, list(products.values()))
    plan = LinksPlan()
    refs: dict[str, str] = {}  # one SODA descriptor per identifier, however often it is asked
    for text in identifiers:
        number = parsed[text]
        if number is None:
            plan.rows.append(usage_fault(text, urls.did_base))
            continue
        product = products.get(number)
        if product is None:
            plan.rows.append(not_found(text))
            continue
        ref = refs.get(text)
        if ref is None:
            ref = refs[text] = f"soda-{len(refs)}"
            plan.cutouts.append((text, ref, product))
        plan.rows.extend(product_links(text, product, family, urls, ref))
    return plan
