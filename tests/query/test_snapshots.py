"""Hard-linked Parquet trees of Delta versions (what the SQL endpoint reads natively)."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from siskin.query.snapshots import SnapshotTree, create_table_sql, ddl_type


def _rows(tree: Path) -> list[tuple[str, int]]:
    """(objectId, night) of every row in a tree, the night read from the hive-style folder."""
    out = []
    for path in sorted(tree.rglob("*.parquet")):
        night = int(path.parent.name.split("=")[1])
        out += [(oid, night) for oid in pq.read_table(path).column("objectId").to_pylist()]
    return sorted(out)


def test_a_tree_holds_exactly_the_versions_live_files_and_outlives_vacuum(tmp_path: Path) -> None:
    uri = tmp_path / "t"
    for night, ids in ((1, ["A", "B"]), (2, ["C"])):
        data = pa.table({"objectId": ids, "night": pa.array([night] * len(ids), pa.int32())})
        write_deltalake(str(uri), data, mode="append", partition_by=["night"])
    tree = SnapshotTree(tmp_path / "snaps", grace_s=0)
    first = tree.build("silver.t", uri, DeltaTable(str(uri)))
    assert first is not None and first.version == 1 and first.partition_by == ("night",)
    assert _rows(first.location) == [("A", 1), ("B", 1), ("C", 2)]
    # a file written but never committed is not in the tree
    (uri / "night=2" / "stray.parquet").write_bytes(b"not committed")
    # an overwrite: the next version's tree holds only its file; the old tree still reads the old rows
    write_deltalake(str(uri), pa.table({"objectId": ["Z"], "night": pa.array([3], pa.int32())}),
                    mode="overwrite", partition_by=["night"])  # fmt: skip
    table = DeltaTable(str(uri))
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    second = tree.build("silver.t", uri, table)
    assert second is not None and second.version == table.version() >= 2  # vacuum commits too
    assert _rows(second.location) == [("Z", 3)]
    assert _rows(first.location) == [("A", 1), ("B", 1), ("C", 2)]  # hard links: vacuum freed nothing
    assert all(os.stat(p).st_nlink == 1 for p in first.location.rglob("*.parquet"))
    # a superseded tree goes after the grace period; the served one stays
    tree.retire(first.location)
    assert tree.prune() == 1 and not first.location.exists() and second.location.is_dir()


def test_an_empty_table_gets_an_empty_tree(tmp_path: Path) -> None:
    uri = tmp_path / "e"
    schema = pa.schema([("objectId", pa.string()), ("night", pa.int32())])
    DeltaTable.create(str(uri), schema=schema, partition_by=["night"])
    snap = SnapshotTree(tmp_path / "snaps").build("gold.e", uri, DeltaTable(str(uri)))
    assert snap is not None and snap.location.is_dir() and not list(snap.location.rglob("*.parquet"))


def test_ddl_quotes_nested_names_and_keeps_partitions(tmp_path: Path) -> None:
    from pyspark.sql.types import ArrayType, IntegerType, StringType, StructField, StructType

    kind = ArrayType(StructType([StructField("odd name", IntegerType()), StructField("b", StringType())]))
    assert ddl_type(kind) == "array<struct<`odd name`:int,`b`:string>>"
    uri = tmp_path / "d"
    write_deltalake(
        str(uri), pa.table({"x": [1], "night": pa.array([5], pa.int32())}), partition_by=["night"]
    )
    snap = SnapshotTree(tmp_path / "snaps").build("gold.d", uri, DeltaTable(str(uri)))
    assert snap is not None
    sql = create_table_sql("`gold`.`d`", snap)
    assert sql.startswith("CREATE TABLE `gold`.`d` (`x` bigint, `night` int) USING parquet")
    assert "PARTITIONED BY (`night`)" in sql and str(snap.location) in sql
