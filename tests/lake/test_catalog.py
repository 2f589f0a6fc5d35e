"""The table catalog declares every table once; stages, replay, status and SQL read it from there."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from siskin.config import Settings
from siskin.lake import catalog


def test_every_survey_codec_names_a_declared_silver_table_with_its_key() -> None:
    from siskin.alerts.registry import codecs

    for codec in codecs():
        spec = catalog.table(codec.silver_table)
        assert spec.survey == codec.name and spec.key == (codec.alert_key,)
        assert spec.writer == "silver" and spec.rebuild == "night"
        assert codec.alert_key in spec.arrow_schema().names
        assert codec.object_key in spec.arrow_schema().names


def test_tables_are_declared_once_and_schemas_hold_their_keys_and_partitions() -> None:
    names = [t.name for t in catalog.tables()]
    assert len(names) == len(set(names))
    for spec in catalog.tables():
        columns = spec.arrow_schema().names
        assert set(spec.key) <= set(columns), spec.name
        assert set(spec.partition_by) <= set(columns), spec.name
        assert spec.path("/lake") == f"/lake/{spec.layer}/{spec.short}"


def test_declaring_a_name_twice_differently_is_refused() -> None:
    spec = catalog.table("ops.batches")
    with pytest.raises(ValueError, match="declared twice"):
        catalog.register(catalog.TableSpec(spec.name, "another", spec.arrow_schema()))


def test_an_unknown_table_names_the_known_ones() -> None:
    from siskin.errors import LakeError

    with pytest.raises(LakeError, match="silver.alerts"):
        catalog.table("silver.nope")


def test_a_registered_table_is_created_listed_and_queryable_without_other_edits(
    spark_session, tmp_path: Path
) -> None:
    from siskin.lake.transactions import append_arrow
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.query.sql import run_sql
    from siskin.query.status import lake_status

    schema = pa.schema([("objectId", pa.string()), ("score", pa.float64())])
    spec = catalog.register(
        catalog.TableSpec("gold.test_scores", "a table a science module would add", schema, key=("objectId",))
    )
    try:
        house = Lakehouse(Settings(lake=str(tmp_path / "lake")), spark_session)
        house.ensure_tables()
        append_arrow(spec.path(house.lake), pa.table({"objectId": ["a", "b"], "score": [0.5, 0.9]}))
        assert "gold.test_scores" in {s.table for s in lake_status(house.settings)}
        rows = run_sql(
            spark_session, house.engine, house.lake, "SELECT max(score) AS m FROM gold.test_scores"
        ).collect()
        assert rows[0]["m"] == 0.9
    finally:
        catalog._TABLES.pop("gold.test_scores", None)
