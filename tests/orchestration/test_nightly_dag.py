"""`dag.test()` of `nightly` on a lake built from real alerts: green, right figures, exports; idempotent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from tests.orchestration.lake_snapshot import snapshot

# A lake build, a dbt SQL endpoint and three DAG runs: 4-11 min on this machine, so out of the default run.
pytestmark = pytest.mark.slow

PROBE_OBJECTS = 12
NIGHT_FOLDERS = ("fink-alert-simulator-2018-11-29", "fink-broker-2020-01-01")
# The probe catalog is loaded after the night was scored, so the first run's reclassify step replays it;
# the rerun finds it scored after the load and skips it. refresh_seconds = 0: no grace period for the
# catalog-label cache, so "after the load" holds however quickly the first run reaches that step.
EXPORTS_TOML = """
[science.module_config.catalog_labels]
refresh_seconds = 0

[exports.specs.good_alerts]
who = "a collaborator"
table = "silver.alerts"
columns = ["objectId", "candid", "jd", "ra", "dec", "magpsf", "sigmapsf", "fid"]
where = [{ column = "quality_ok", op = "==", value = true }]
format = "csv"

[exports.specs.all_alerts]
who = "another collaborator"
table = "silver.alerts"
columns = ["objectId", "candid", "jd", "ra", "dec", "magpsf", "fid", "quality_ok"]
format = "parquet"
"""


def _export_files(settings: Settings, night: int) -> dict[str, str]:
    """{spec/file: sha256 of the bytes on disk} of the night's exports, manifests excluded."""
    import hashlib

    root = Path(settings.lake_uri) / "_exports"
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.glob(f"*/night={night}/*"))
        if path.name != "_manifest.json"
    }


def _silver(settings: Settings, night: int | None = None) -> Any:
    data = DeltaTable(f"{settings.lake_uri}/silver/alerts").to_pyarrow_table(
        columns=["objectId", "candid", "ra", "dec", "night", "fid", "quality_ok"]
    )
    return data if night is None else data.filter(pc.equal(data["night"], night))


@pytest.fixture(scope="module")
def nightly_lake(
    spark_session: Any, ztf_alert_dir: Path, tmp_path_factory: pytest.TempPathFactory, airflow_db: Path
) -> Iterator[tuple[Settings, int, np.ndarray]]:
    """Real ZTF alerts through bronze, silver and gold; a probe catalog of the busiest night's objects."""
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.science.xmatch.catalogs import load_catalog

    root = tmp_path_factory.mktemp("nightly")
    settings = Settings(lake=root / "lake")
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    folders = [str(ztf_alert_dir / name) for name in NIGHT_FOLDERS]  # two real nights: small and quick
    house.start_bronze_files(folders, available_now=True).awaitTermination()
    house.run_downstream_available_now()
    nights = pc.value_counts(_silver(settings)["night"]).to_pylist()
    night = int(max(nights, key=lambda c: c["counts"])["values"])
    alerts = _silver(settings, night).to_pandas()
    probes = alerts.drop_duplicates("objectId").head(PROBE_OBJECTS)
    # catalog sources 0.5" north of real alerts: the cross-match must find them within the 1.5" default radius
    catalog = probes.assign(dec=probes["dec"] + 0.5 / 3600.0, name=[f"probe-{i}" for i in range(len(probes))])
    path = root / "probe.csv"
    catalog[["name", "ra", "dec"]].to_csv(path, index=False)
    load_catalog(settings, path, "probe")
    config = root / "siskin.toml"
    config.write_text(EXPORTS_TOML)
    # the DAG's tasks read the settings themselves: this lake, and two export specs
    wanted = {"SISKIN_LAKE": settings.lake_uri, "SISKIN_CONFIG": str(config)}
    previous = {key: os.environ.get(key) for key in wanted}
    os.environ.update(wanted)
    try:
        yield Settings(lake=root / "lake"), night, catalog[["ra", "dec"]].to_numpy()
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _expected_matches(settings: Settings, night: int, sources: np.ndarray) -> int:
    """Independent oracle: alerts of the night within 1.5" of a probe source (nearest per alert)."""
    alerts = _silver(settings, night)
    ra, dec = np.radians(alerts["ra"].to_numpy()), np.radians(alerts["dec"].to_numpy())
    sra, sdec = np.radians(sources[:, 0]), np.radians(sources[:, 1])
    hav = (
        np.sin((sdec[None, :] - dec[:, None]) / 2) ** 2
        + np.cos(dec[:, None]) * np.cos(sdec[None, :]) * np.sin((sra[None, :] - ra[:, None]) / 2) ** 2
    )
    sep = np.degrees(2 * np.arcsin(np.sqrt(np.minimum(hav, 1.0)))) * 3600
    return int((sep.min(axis=1) <= 1.5).sum())


@pytest.fixture(scope="module")
def first_run(nightly_lake: tuple[Settings, int, np.ndarray]) -> dict[str, Any]:
    from siskin.orchestration.dag_test import run_dag

    settings, night, _ = nightly_lake
    before = snapshot(settings)
    result = run_dag("nightly", {"night": night})
    return {
        "result": result,
        "before": before,
        "after": snapshot(settings),
        "exports": _export_files(settings, night),
    }


def test_nightly_runs_green_on_real_alerts(
    nightly_lake: tuple[Settings, int, np.ndarray], first_run: dict
) -> None:
    result = first_run["result"]
    assert result["state"] == "success"
    assert result["tasks"] == dict.fromkeys(
        [
            "night",
            "maintain",
            "xmatch",
            "reclassify",
            "dbt",
            "data_quality",
            "statistics",
            "exports",
            "vacuum",
        ],
        "success",
    )


def test_nightly_writes_the_nights_statistics(
    nightly_lake: tuple[Settings, int, np.ndarray], first_run: dict
) -> None:
    settings, night, sources = nightly_lake
    stats = DeltaTable(f"{settings.lake_uri}/ops/night_stats").to_pyarrow_table().to_pylist()
    assert {row["night"] for row in stats} == {night}
    figures = {(r["survey"], r["metric"], r["key"]): r["value"] for r in stats}
    alerts = _silver(settings, night)
    assert figures[("ztf", "alerts", "")] == alerts.num_rows > 0
    assert figures[("ztf", "objects", "")] == pc.count_distinct(alerts["objectId"]).as_py()
    assert figures[("ztf", "quality_ok", "")] == pc.sum(alerts["quality_ok"]).as_py()
    per_band = {k: v for (s, m, k), v in figures.items() if m == "alerts_per_band"}
    assert sum(per_band.values()) == alerts.num_rows
    expected = _expected_matches(settings, night, sources)
    assert expected >= PROBE_OBJECTS
    assert figures[("ztf", "xmatch_matches", "probe")] == expected


def test_nightly_cross_matches_the_night(
    nightly_lake: tuple[Settings, int, np.ndarray], first_run: dict
) -> None:
    settings, night, sources = nightly_lake
    matches = DeltaTable(f"{settings.lake_uri}/silver/xmatch").to_pyarrow_table()
    assert set(matches["night"].to_pylist()) == {night}
    assert set(matches["catalog"].to_pylist()) == {"probe"}
    assert matches.num_rows == _expected_matches(settings, night, sources)
    assert pc.max(matches["sep_arcsec"]).as_py() <= 1.5


def test_nightly_exports_the_night(nightly_lake: tuple[Settings, int, np.ndarray], first_run: dict) -> None:
    import json

    from siskin.exports import verify_export

    settings, night, _ = nightly_lake
    alerts = _silver(settings, night)
    root = Path(settings.lake_uri) / "_exports"
    good = verify_export(f"file://{root}/good_alerts/night={night}")  # every file against its manifest
    assert good.rows == pc.sum(alerts["quality_ok"]).as_py()
    every = json.loads((root / "all_alerts" / f"night={night}" / "_manifest.json").read_text())
    assert every["rows"] == alerts.num_rows
    assert first_run["result"]["tasks"]["exports"] == "success"
    assert len(_export_files(settings, night)) >= 2


def test_nightly_keeps_every_row_of_the_streaming_tables(first_run: dict) -> None:
    before, after = first_run["before"], first_run["after"]
    for name in ("bronze.alerts", "silver.alerts", "silver.cutouts", "silver.rejects", "gold.objects"):
        assert after[name] == before[name], name  # maintenance rewrites files, never rows


def test_rerunning_the_night_leaves_identical_tables(
    nightly_lake: tuple[Settings, int, np.ndarray], first_run: dict
) -> None:
    from siskin.orchestration.dag_test import run_dag

    settings, night, _ = nightly_lake
    again = run_dag("nightly", {"night": night})
    assert again["state"] == "success"
    second = snapshot(settings)
    assert set(second) >= {"silver.alerts", "silver.xmatch", "ops.night_stats", "gold.objects"}
    # ops.batches is the operations log: the first run's reclassification (the probe catalog was loaded
    # after the night was scored) recorded its replayed batch there; the rerun found the night scored by
    # the current modules after the last catalog load, and skipped it (no lease, no batch)
    log_before, log_after = first_run["after"].pop("ops.batches"), second.pop("ops.batches")
    assert second == first_run["after"]
    assert log_after[0] == log_before[0]
    batches = DeltaTable(f"{settings.lake_uri}/ops/batches").to_pyarrow_table()
    assert pc.sum(batches["replay"]).as_py() == 1  # the first run's replay, nothing else
    assert _export_files(settings, night) == first_run["exports"]  # same files, byte for byte


def test_catalogs_dag_loads_a_file_and_matches_the_whole_history(
    nightly_lake: tuple[Settings, int, np.ndarray], first_run: dict, tmp_path: Path
) -> None:
    from siskin.orchestration.dag_test import run_dag

    settings, night, sources = nightly_lake
    probe = tmp_path / "probe2.csv"
    probe.write_text("name,ra,dec\n" + "".join(f"p{i},{ra},{dec}\n" for i, (ra, dec) in enumerate(sources)))
    result = run_dag("catalogs", {"files": {"probe2": str(probe)}})
    assert result["tasks"] == {"load": "success", "xmatch_history": "success"}
    matches = DeltaTable(f"{settings.lake_uri}/silver/xmatch").to_pyarrow_table()
    mine = matches.filter(pc.equal(matches["catalog"], "probe2"))
    assert mine.num_rows == _expected_matches(settings, night, sources)  # every night matched, this one hits
    index = DeltaTable(f"{settings.lake_uri}/catalogs/index").to_pyarrow_table().to_pylist()
    assert {row["name"] for row in index} == {"probe", "probe2"}
