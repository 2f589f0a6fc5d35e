"""A night without alerts: the nightly run records `no_data` and succeeds, unless the trailing nights had
alerts (a volume anomaly): then the night is suspect, the task fails with a readable message, data kept.

The lakes are real Delta tables written with the catalog's schemas (a few rows per night); the DAG run
is a real `dag.test()` of `nightly`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from siskin.config import Settings
from siskin.lake.catalog import table
from siskin.lake.transactions import ensure_table, forget_table
from siskin.orchestration.nightly import check_quality, night_inputs
from siskin.quality.run import QualityError, calendar_trailing

EMPTY = 20261121


def _night(offset: int) -> int:
    day = date(2026, 11, 21) + timedelta(days=offset)
    return int(day.strftime("%Y%m%d"))


def _append(settings: Settings, name: str, rows: list[dict]) -> None:
    spec = table(name)
    uri = spec.path(settings.lake_uri)
    ensure_table(uri, spec.arrow_schema(), spec.partition_by)
    write_deltalake(uri, pa.Table.from_pylist(rows, spec.arrow_schema()), mode="append")
    forget_table(uri)


def _lake_with(root: Path, nights: list[int], alerts: int = 5) -> Settings:
    """A lake holding `alerts` bronze inputs and silver alerts in each of `nights`."""
    settings = Settings(lake=root / "lake")
    now = datetime.now(UTC)
    for night in nights:
        _append(
            settings,
            "bronze.alerts",
            [
                {
                    "night": night,
                    "payload_size": 1,
                    "sha256": f"{night}-{i}",
                    "source": "file",
                    "ingest_time": now,
                }
                for i in range(alerts)
            ],
        )
        _append(
            settings,
            "silver.alerts",
            [
                {
                    "night": night,
                    "survey": "ztf",
                    "schema_version": "4.02",
                    "objectId": f"ZTF{night}{i}",
                    "candid": night * 100 + i,
                    "processed_at": now,
                }
                for i in range(alerts)
            ],
        )
    return settings


def _files(settings: Settings, name: str) -> list[tuple[str, int]]:
    """The table's data files and their row counts."""
    adds = pa.table(DeltaTable(table(name).path(settings.lake_uri)).get_add_actions(flatten=True)).to_pydict()
    return sorted(zip(adds["path"], adds["num_records"], strict=True))


def _status(settings: Settings) -> dict[int, dict]:
    uri = table("gold.night_status").path(settings.lake_uri)
    return {r["night"]: r for r in DeltaTable(uri).to_pyarrow_table().to_pylist()}


def test_trailing_calendar_nights_count_empty_nights_as_zero() -> None:
    counts = {20261120: 10, 20261118: 4, 20261031: 9}
    assert calendar_trailing(counts, 20261121, 3) == [10, 0, 4]
    assert calendar_trailing(counts, 20261101, 2) == [9, 0]  # across a month


def test_an_empty_night_after_empty_nights_is_no_data_and_succeeds(tmp_path: Path) -> None:
    settings = _lake_with(tmp_path, [_night(-30), _night(-2)])  # only 1 of the 7 previous nights had data
    assert night_inputs(settings, EMPTY) == 0 and night_inputs(settings, _night(-2)) == 10
    summary = check_quality(settings, EMPTY)
    assert summary["status"] == "no_data" and summary["alerts"] == 0 and summary["checks"] == 0
    assert "[0, 5, 0, 0, 0, 0, 0]" in summary["notes"][0]
    row = _status(settings)[EMPTY]
    assert row["status"] == "no_data" and row["failed"] == 0 and row["alerts"] == 0


def test_an_empty_night_after_nights_with_data_is_suspect_and_fails(tmp_path: Path) -> None:
    settings = _lake_with(tmp_path, [_night(-i) for i in range(1, 6)])  # 5 of the 7 previous nights
    silver = DeltaTable(table("silver.alerts").path(settings.lake_uri)).to_pyarrow_table().num_rows
    with pytest.raises(QualityError) as failed:
        check_quality(settings, EMPTY)
    message = str(failed.value)
    assert f"night {EMPTY} is suspect" in message and "5 of the 7 previous nights" in message
    assert "nothing deleted" in message and len(message.splitlines()) == 1
    row = _status(settings)[EMPTY]
    assert row["status"] == "suspect" and row["failed"] == 1 and "volume_ratio" in row["failures"][0]
    assert DeltaTable(table("silver.alerts").path(settings.lake_uri)).to_pyarrow_table().num_rows == silver


def test_siskin_quality_on_a_night_without_data_is_still_an_error(tmp_path: Path) -> None:
    from siskin.errors import LakeError
    from siskin.quality import run_night

    settings = _lake_with(tmp_path, [_night(-1)])
    with pytest.raises(LakeError, match="no data"):
        run_night(settings, EMPTY)  # asked by hand: a night with nothing to check is an error


@pytest.fixture
def lake_env(tmp_path: Path) -> Iterator[Settings]:
    settings = _lake_with(tmp_path, [_night(-40)])
    previous = os.environ.get("SISKIN_LAKE")
    os.environ["SISKIN_LAKE"] = settings.lake_uri  # the DAG's tasks read their settings themselves
    try:
        yield settings
    finally:
        if previous is None:
            os.environ.pop("SISKIN_LAKE", None)
        else:
            os.environ["SISKIN_LAKE"] = previous


def test_the_nightly_dag_succeeds_on_a_night_without_data(airflow_db: Path, lake_env: Settings) -> None:
    from siskin.orchestration.dag_test import run_dag

    versions = {n: _files(lake_env, n) for n in ("bronze.alerts", "silver.alerts")}
    result = run_dag("nightly", {"night": EMPTY})
    assert result["state"] == "success" and set(result["tasks"].values()) == {"success"}
    assert _status(lake_env)[EMPTY]["status"] == "no_data"
    steps = result["summaries"]  # each step's JSON summary, as the UI shows its XCom
    assert steps["data_quality"]["status"] == "no_data"
    assert "no data for the night" in steps["xmatch"]["skipped"] and "no data" in steps["dbt"]["skipped"]
    assert steps["reclassify"]["nights"] == [] and steps["reclassify"]["leases_taken"] is False
    assert set(result["task_seconds"]) == set(result["tasks"])
    stats = DeltaTable(table("ops.night_stats").path(lake_env.lake_uri)).to_pyarrow_table().to_pylist()
    assert [(r["metric"], r["value"]) for r in stats if r["night"] == EMPTY and r["survey"] == "ztf"] == [
        ("alerts", 0),
        ("objects", 0),
        ("quality_ok", 0),
    ]
    assert not (Path(lake_env.lake_uri) / "_exports").exists()
    after = {n: _files(lake_env, n) for n in versions}
    assert after == versions  # the streams' tables keep their files (maintenance may set table properties)


def test_a_suspect_empty_night_fails_the_dag_run_naming_the_step(airflow_db: Path, tmp_path: Path) -> None:
    from siskin.errors import SiskinError
    from siskin.orchestration.dag_test import run_dag

    settings = _lake_with(tmp_path, [_night(-i) for i in range(1, 6)])
    previous = os.environ.get("SISKIN_LAKE")
    os.environ["SISKIN_LAKE"] = settings.lake_uri
    try:
        with pytest.raises(SiskinError) as failed:
            run_dag("nightly", {"night": EMPTY})
    finally:
        if previous is None:
            os.environ.pop("SISKIN_LAKE", None)
        else:
            os.environ["SISKIN_LAKE"] = previous
    assert "failed: ['data_quality'], not run: ['exports', 'statistics', 'vacuum']" in str(failed.value)
    assert _status(settings)[EMPTY]["status"] == "suspect"
