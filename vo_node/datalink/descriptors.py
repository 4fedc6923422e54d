"""DataLink 1.1 service descriptors: RESOURCE type="meta"
utype="adhoc:service" elements that tell a client how to call a service on a row's data.

- :func:`links_descriptor` goes with query results (TAP, SSA): the DataLink service, its ID
  taken from the row's FIELD that carries the ID (``ref``).
- :func:`soda_descriptor` goes with a {links} response: the SODA cut-out service for one
  product, with the product's time range as the TIME bounds and its flux columns as the
  COLUMN options.

Must not import Flask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vo_node.votable.markup import element, start_tag

SODA_STANDARD_ID = "ivo://ivoa.net/std/SODA#sync-1.0"
DATALINK_STANDARD_ID = "ivo://ivoa.net/std/DataLink#links-1.1"
LINKS_MIME = "application/x-votable+xml;content=datalink"
# RESPONSEFORMAT values a cut-out takes; the first is the default (the archive's own form).
CUTOUT_FORMATS = ("application/fits", "application/x-votable+xml", "text/csv")


def _param(
    name: str,
    value: str,
    *,
    datatype: str = "char",
    arraysize: str | None = "*",
    ucd: str | None = None,
    unit: str | None = None,
    xtype: str | None = None,
    ref: str | None = None,
    description: str | None = None,
    values: str = "",
) -> str:
    attrs = [
        ("name", name),
        ("datatype", datatype),
        ("arraysize", arraysize),
        ("unit", unit),
        ("ucd", ucd),
        ("xtype", xtype),
        ("ref", ref),
        ("value", value),
    ]
    if description is None and not values:
        return element("PARAM", attrs)
    inner = (element("DESCRIPTION", (), description) if description else "") + values
    return f"{start_tag('PARAM', attrs)}{inner}</PARAM>"


def _options(values: Iterable[str]) -> str:
    return "<VALUES>" + "".join(element("OPTION", [("value", v)]) for v in values) + "</VALUES>"


def _resource(ref: str | None, name: str, description: str, body: Sequence[str]) -> str:
    head = start_tag(
        "RESOURCE", [("ID", ref), ("name", name), ("type", "meta"), ("utype", "adhoc:service")]
    )
    return "\n".join([head, element("DESCRIPTION", (), description), *body, "</RESOURCE>\n"])


def links_descriptor(access_url: str, id_field: str) -> str:
    """The DataLink descriptor of a result whose FIELD ``id_field`` (an XML ID) holds the
    identifiers the {links} service takes."""
    return _resource(
        "datalink",
        "links",
        "DataLink: the files, previews, cut-outs and related products of each row",
        [
            _param("standardID", DATALINK_STANDARD_ID),
            _param("accessURL", access_url),
            _param("contentType", LINKS_MIME),
            '<GROUP name="inputParams">',
            _param("ID", "", ucd="meta.id;meta.main", ref=id_field),
            "</GROUP>",
        ],
    )


def soda_descriptor(
    resource_id: str,
    access_url: str,
    dataset_id: str,
    t_min: float,
    t_max: float,
    columns: Sequence[str],
) -> str:
    """The SODA sync descriptor for one light curve: ID fixed, TIME within [t_min, t_max]
    (MJD), COLUMN among the file's flux columns, RESPONSEFORMAT among the offered ones."""
    time_values = (
        f"<VALUES>{element('MIN', [('value', repr(float(t_min)))])}"
        f"{element('MAX', [('value', repr(float(t_max)))])}</VALUES>"
    )
    column_param = _param(
        "COLUMN",
        "",
        description=(
            "Photometric columns to keep (repeat for several; default: all); time and "
            "status always come along"
        ),
        values=_options(columns),
    )
    return _resource(
        resource_id,
        resource_id,  # names are unique in a document (one descriptor per light curve)
        "SODA cut-out of the light curve: the points within a time interval",
        [
            _param("standardID", SODA_STANDARD_ID),
            _param("accessURL", access_url),
            '<GROUP name="inputParams">',
            _param("ID", dataset_id, ucd="meta.id;meta.dataset"),
            _param(
                "TIME",
                "",
                datatype="double",
                arraysize="2",
                unit="d",
                ucd="time.interval;obs.exposure",
                xtype="interval",
                description="Time interval to keep, MJD (the light curve's own time scale)",
                values=time_values,
            ),
            column_param,
            _param(
                "RESPONSEFORMAT",
                "",
                ucd="meta.code.mime",
                description="Format of the cut-out (default: FITS, like the archived file)",
                values=_options(CUTOUT_FORMATS),
            ),
            "</GROUP>",
        ],
    )
