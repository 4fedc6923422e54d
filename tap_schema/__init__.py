"""Published metadata declarations: the single source of TAP_SCHEMA, VOSI tables, VOTable
FIELDs and the ADQL resolver's view of the database.

``METADATA`` is everything published, in display order. Must not import Flask or psycopg.
"""

from tap_schema import corot, ivoa, self_description
from tap_schema.model import Column, ForeignKey, Metadata, Schema, Table, TimeSystem

METADATA = Metadata((corot.SCHEMA, ivoa.SCHEMA, self_description.SCHEMA))

__all__ = ["METADATA", "Column", "ForeignKey", "Metadata", "Schema", "Table", "TimeSystem"]
