"""`gold.lightcurves`: the one-partition dedup keeps the rows; ORDER BY needs no range exchange."""

from __future__ import annotations

from pathlib import Path

from siskin.lake.engine import get_engine
from siskin.query.lightcurves import LIGHTCURVES_SQL
from siskin.query.sql import run_sql

COLUMNS = (
    "survey, objectId, candid, jd, fid, band, magpsf, sigmapsf, diffmaglim, isdiffpos, psfFlux, psfFluxErr, "
    "ra, dec, kind"
)


def _plain_window_view(spark, lake: Path) -> None:  # noqa: ANN001
    """The view as it was before the REPARTITION(1) hint (same dedup, range exchange for ORDER BY)."""
    assert "/*+ REPARTITION(1) */ " in LIGHTCURVES_SQL
    run_sql(spark, get_engine("delta-rs"), str(lake), "SELECT 1 FROM silver.alerts LIMIT 1").collect()
    text = LIGHTCURVES_SQL.replace("/*+ REPARTITION(1) */ ", "")
    spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW plain_window_lightcurves AS {text}")


def test_point_query_and_full_view_equal_the_plain_window(spark_session, small_lake: Path) -> None:  # noqa: ANN001
    engine = get_engine("delta-rs")
    _plain_window_view(spark_session, small_lake)
    full = run_sql(spark_session, engine, str(small_lake), f"SELECT {COLUMNS} FROM gold.lightcurves")
    plain = spark_session.sql(f"SELECT {COLUMNS} FROM plain_window_lightcurves")
    n = full.count()
    assert n > 0 and n == plain.count()
    assert full.exceptAll(plain).count() == 0 and plain.exceptAll(full).count() == 0
    # an object with a history: its points, in jd order, are the same rows in the same order
    object_id = (
        full.groupBy("objectId").count().orderBy("count", ascending=False).first()["objectId"]  # type: ignore[index]
    )
    sql = f"SELECT {COLUMNS} FROM gold.lightcurves WHERE objectId = '{object_id}' ORDER BY jd, band, kind"
    point = run_sql(spark_session, engine, str(small_lake), sql)
    rows = point.collect()
    expected = spark_session.sql(
        f"SELECT {COLUMNS} FROM plain_window_lightcurves WHERE objectId = '{object_id}' "
        "ORDER BY jd, band, kind"
    ).collect()
    assert len(rows) > 1 and rows == expected
    # the rows come out of one partition: the ORDER BY needs no range exchange (a sampling job and a shuffle)
    plan = point._jdf.queryExecution().executedPlan().toString()
    assert "rangepartitioning" not in plan and "SinglePartition" in plan
    old_plan = (
        spark_session.sql(
            f"SELECT * FROM plain_window_lightcurves WHERE objectId = '{object_id}' ORDER BY jd"
        )
        ._jdf.queryExecution()
        .executedPlan()
        .toString()
    )
    assert "rangepartitioning" in old_plan
