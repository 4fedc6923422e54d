"""VOSI /tables documents: valid against VOSITables/VODataService, consistent with TAP_SCHEMA."""

from __future__ import annotations

from lxml import etree
from xsd import assert_valid

from tap_schema import METADATA, vosi


def test_tableset_is_valid_and_complete() -> None:
    root = assert_valid(vosi.tableset(METADATA), "VOSITables.xsd")
    names = [el.text for el in root.iterfind("schema/table/name")]
    assert names == [t.qualified for t in METADATA.tables()]
    columns = root.findall("schema/table/column")
    assert len(columns) == sum(len(t.columns) for t in METADATA.tables())
    pos = root.xpath("schema/table[name='corot.products']/column[name='pos']")[0]
    datatype = pos.find("dataType")
    assert (datatype.text, datatype.get("arraysize"), datatype.get("extendedType")) == (
        "double",
        "2",
        "point",
    )
    assert [f.text for f in pos.findall("flag")] == ["indexed", "nullable"]
    fk = root.xpath("schema/table[name='corot.products']/foreignKey[targetTable='corot.stars']")
    assert fk and fk[0].findtext("fkColumn/fromColumn") == "corotid"


def test_detail_min_leaves_out_columns() -> None:
    root = assert_valid(vosi.tableset(METADATA, detail="min"), "VOSITables.xsd")
    assert root.findall("schema/table")
    assert not root.findall("schema/table/column")


def test_single_table_document() -> None:
    table = METADATA.table("ivoa.obscore")
    assert table is not None
    root = assert_valid(vosi.table(table), "VOSITables.xsd")
    assert etree.QName(root).localname == "table"
    assert root.findtext("name") == "ivoa.obscore"
    std = root.xpath("column[name='dataproduct_type']")[0]
    assert std.get("std") == "true"
    assert std.findtext("utype") == "obscore:ObsDataset.dataProductType"


def test_s_region_is_an_adql_region_without_unit() -> None:
    """ObsCore 1.1 and taplint's ObsCore checks: a char region (STC-S), no unit; the VOSI
    column says what TAP_SCHEMA and the result FIELD say."""
    root = assert_valid(vosi.tableset(METADATA), "VOSITables.xsd")
    region = root.xpath("schema/table[name='ivoa.obscore']/column[name='s_region']")[0]
    datatype = region.find("dataType")
    assert (datatype.text, datatype.get("arraysize"), datatype.get("extendedType")) == (
        "char",
        "*",
        "adql:REGION",
    )
    assert region.find("unit") is None
    assert [f.text for f in region.findall("flag")] == ["indexed", "nullable"]
