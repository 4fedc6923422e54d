"""The ``FORMAT=METADATA`` response (SSA 1.1 section 8.5): the result's FIELDs with no rows,
and one ``INPUT:<name>`` PARAM per declared input parameter (with the value sent, if any).

Both come from the declarations (:data:`ssa.fields.FIELDS`, :data:`ssa.params.PARAMETERS`),
written through the VOTable markup helpers (never by string formatting). Must not import Flask
or psycopg.
"""

from __future__ import annotations

from ssa.fields import ICRS, SPECS
from ssa.params import DEFAULT_SIZE, PARAMETERS
from ssa.query import RESULT_INFOS
from vo_node.votable import FieldSpec
from vo_node.votable.document import document_start, status_info
from vo_node.votable.markup import element, start_tag
from vo_node.votable.systems import merge_timesys


def _field(spec: FieldSpec) -> str:
    if spec.description is None:
        return element("FIELD", spec.attributes())
    description = element("DESCRIPTION", (), spec.description)
    return f"{start_tag('FIELD', spec.attributes())}{description}</FIELD>"


def _is_number(text: str | None) -> bool:
    try:
        float(text or "")
    except ValueError:
        return False
    return True


def metadata_document(echoed: dict[str, str], maxrec_default: int) -> bytes:
    """The METADATA VOTable; ``echoed`` are the parameters the request gave, by name."""
    defaults = {"SIZE": repr(DEFAULT_SIZE), "MAXREC": str(maxrec_default), "REQUEST": "queryData"}
    params = []
    for parameter in PARAMETERS:
        value = echoed.get(parameter.name, defaults.get(parameter.name))
        numeric = parameter.datatype != "char"
        if numeric and not _is_number(value):
            # A numeric PARAM needs a number (there is no empty one): an input not given,
            # or not a number, is declared as the text it is.
            numeric = False
        attrs: list[tuple[str, str | None]] = [
            ("ID", f"INPUT_{parameter.name}"),
            ("name", f"INPUT:{parameter.name}"),
            ("datatype", parameter.datatype if numeric else "char"),
            ("arraysize", None if numeric else "*"),
            ("unit", parameter.unit),
            ("ucd", parameter.ucd),
            ("value", value or ""),
        ]
        description = element("DESCRIPTION", (), parameter.description)
        params.append(f"{start_tag('PARAM', attrs)}{description}</PARAM>")
    timesys = merge_timesys((), (spec.timesys for spec in SPECS))
    parts = [
        document_start(),
        start_tag("RESOURCE", [("type", "results")]),
        status_info("OK"),
        *(element("INFO", [("name", n), ("value", v)]) for n, v in RESULT_INFOS),
        *params,
        element("COOSYS", ICRS.attributes()),
        *(element("TIMESYS", system.attributes()) for system in timesys),
        start_tag("TABLE", [("name", "results")]),
        *(_field(spec) for spec in SPECS),
        "</TABLE>",
        "</RESOURCE>",
        "</VOTABLE>\n",
    ]
    return "\n".join(parts).encode("utf-8")
