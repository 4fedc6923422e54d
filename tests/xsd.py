"""XSD validation of our XML documents against the IVOA schemas, offline.

The schemas come from Debian's python3-gavo package (scripts/fetch-ivoa-schemas, run by
`make test`); they import each other by URL, which a resolver maps to the local files.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

SCHEMATA = Path(__file__).resolve().parent.parent / ".cache" / "ivoa-schemata"


class _Local(etree.Resolver):
    def resolve(self, url, public_id, context):  # type: ignore[no-untyped-def]
        local = SCHEMATA / Path(str(url)).name
        if local.exists():
            return self.resolve_filename(str(local), context)
        return None


@functools.cache
def schema(*filenames: str) -> etree.XMLSchema:
    """One schema, or several together (a document whose xsi:type values come from
    extension schemas, such as capabilities with TAPRegExt, needs them all)."""
    for filename in filenames:
        if not (SCHEMATA / filename).exists():
            raise AssertionError(
                f"{SCHEMATA / filename} missing: run scripts/fetch-ivoa-schemas (make test does)"
            )
    parser = etree.XMLParser()
    parser.resolvers.add(_Local())
    if len(filenames) == 1:
        return etree.XMLSchema(etree.parse(str(SCHEMATA / filenames[0]), parser))
    imports = "".join(
        f'<xs:import namespace="{_namespace(f)}" schemaLocation="{f}"/>' for f in filenames
    )
    driver = f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">{imports}</xs:schema>'
    tree = etree.ElementTree(etree.fromstring(driver, parser, base_url=str(SCHEMATA) + "/"))
    return etree.XMLSchema(tree)


def _namespace(filename: str) -> str:
    return str(etree.parse(str(SCHEMATA / filename)).getroot().get("targetNamespace"))


def assert_valid(document: bytes, *filenames: str) -> etree._Element:
    """Parse ``document`` and validate it against the schemas; return the root."""
    root = etree.fromstring(document)
    validator = schema(*filenames)
    if not validator.validate(root):
        errors = "\n".join(str(e) for e in list(validator.error_log)[:10])
        raise AssertionError(f"not valid against {', '.join(filenames)}:\n{errors}")
    return root
