"""VOSI 1.1 ``/tables`` documents generated from the declarations (VODataService 1.1 types).

``tableset`` is the whole set (``detail=min`` leaves out the columns, VOSI 1.1 section 3.4);
``table`` is one table for ``/tables/{name}``. Built with lxml, never by string pasting.
Must not import Flask or psycopg.
"""

from __future__ import annotations

from lxml import etree

from tap_schema.model import Column, Metadata, Table

VOSI_TABLES = "http://www.ivoa.net/xml/VOSITables/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
_NSMAP = {"vosi": VOSI_TABLES, "vs": VS, "xsi": XSI}


def _text(parent: etree._Element, tag: str, value: str | None) -> None:
    if value:
        etree.SubElement(parent, tag).text = value


def _column(parent: etree._Element, column: Column) -> None:
    el = etree.SubElement(parent, "column")
    if column.std:
        el.set("std", "true")
    _text(el, "name", column.name)
    _text(el, "description", column.description)
    _text(el, "unit", column.unit)
    _text(el, "ucd", column.ucd)
    _text(el, "utype", column.utype)
    datatype = etree.SubElement(el, "dataType")
    datatype.set(f"{{{XSI}}}type", "vs:VOTableType")
    if column.arraysize:
        datatype.set("arraysize", column.arraysize)
    if column.xtype:
        datatype.set("extendedType", column.xtype)
    datatype.text = column.datatype
    for flag, on in (("indexed", column.indexed), ("nullable", column.nullable)):
        if on:
            etree.SubElement(el, "flag").text = flag


def _table(parent: etree._Element | None, table: Table, with_columns: bool) -> etree._Element:
    if parent is None:
        el = etree.Element(f"{{{VOSI_TABLES}}}table", nsmap=_NSMAP)
    else:
        el = etree.SubElement(parent, "table")
    el.set("type", "output" if table.schema == "tap_schema" else table.table_type)
    _text(el, "name", table.qualified)
    _text(el, "description", table.description)
    _text(el, "utype", table.utype)
    if with_columns:
        for column in table.columns:
            _column(el, column)
        for key in table.foreign_keys:
            fk = etree.SubElement(el, "foreignKey")
            _text(fk, "targetTable", key.target_table)
            for source, target in key.columns:
                pair = etree.SubElement(fk, "fkColumn")
                _text(pair, "fromColumn", source)
                _text(pair, "targetColumn", target)
            _text(fk, "description", key.description)
            _text(fk, "utype", key.utype)
    return el


def tableset(metadata: Metadata, detail: str | None = None) -> bytes:
    """The VOSI tableset; ``detail='min'`` gives names and descriptions only."""
    root = etree.Element(f"{{{VOSI_TABLES}}}tableset", nsmap=_NSMAP)
    for schema in metadata.schemas:
        el = etree.SubElement(root, "schema")
        _text(el, "name", schema.name)
        _text(el, "description", schema.description)
        _text(el, "utype", schema.utype)
        for table in schema.tables:
            _table(el, table, with_columns=detail != "min")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def table(table: Table) -> bytes:
    """One table with its columns (VOSI 1.1: the response to ``/tables/{name}``)."""
    root = _table(None, table, with_columns=True)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
