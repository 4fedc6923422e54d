"""Streaming VOTable 1.4 results (BINARY2 and TABLEDATA) and DALI error documents.

The writer never holds a result in memory: rows are pulled from an iterator (a server-side
cursor) a batch at a time and leave as ~64 kB chunks. What each datatype takes, as psycopg
returns it:

- long/int/short/unsignedByte: int; float/double: float (NaN and infinities kept), int,
  Decimal; boolean: bool;
- char/unicodeChar: str, or datetime/date (written as DALI timestamps, UTC, no zone suffix),
  time, UUID, anything with a sensible ``str``; char is ASCII in VOTable 1.4, so other
  characters are replaced by '?' and a warning INFO is added (declare unicodeChar for text
  that may hold them);
- arrays (arraysize 'N', 'N*', '*'; geometry xtypes point/circle/polygon): a list or tuple of
  numbers, e.g. psycopg's list for float8[]; None elements become NaN in float arrays;
- char with a ``region`` (xtype adql:REGION): the DALI array of that geometry, written as an
  STC-S string (or the string itself).

A field may carry its own TIMESYS (numeric times from a declared column): the document
declares it before the table and the FIELD refers to it.

None is null in every datatype (BINARY2 null flags; an empty TD in TABLEDATA).
Must not import Flask or psycopg.
"""

from vo_node.votable.batches import ERROR, OK, OVERFLOW, Outcome
from vo_node.votable.document import write_votable
from vo_node.votable.errordoc import error_document
from vo_node.votable.fields import FieldSpec, ResultTypeError
from vo_node.votable.systems import CooSys, TimeSys

__all__ = [
    "ERROR",
    "OK",
    "OVERFLOW",
    "CooSys",
    "FieldSpec",
    "Outcome",
    "ResultTypeError",
    "TimeSys",
    "error_document",
    "write_votable",
]
