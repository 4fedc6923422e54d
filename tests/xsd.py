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
def schema(filename: str) -> etree.XMLSchema:
    if not (SCHEMATA / filename).exists():
        raise AssertionError(
            f"{SCHEMATA / filename} missing: run scripts/fetch-ivoa-schemas (make test does)"
        )
    parser = etree.XMLParser()
    parser.resolvers.add(_Local())
    return etree.XMLSchema(etree.parse(str(SCHEMATA / filename), parser))


def assert_valid(document: bytes, filename: str) -> etree._Element:
    """Parse ``document`` and validate it against ``filename``; return the root."""
    root = etree.fromstring(document)
    validator = schema(filename)
    if not validator.validate(root):
        errors = "\n".join(str(e) for e in list(validator.error_log)[:10])
        raise AssertionError(f"not valid against {filename}:\n{errors}")
    return root
