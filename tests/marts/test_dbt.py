"""The dbt marts: catalog sources, `dbt build` green through the SQL endpoint, Delta marts in gold."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.lake.catalog import table, tables


def test_sources_file_matches_the_catalog() -> None:
    """The committed sources file is what `siskin marts sources` generates from the table catalog."""
    import subprocess
    import sys

    from siskin.marts.sources import SOURCES_FILE, sources_document

    # generated in a fresh interpreter, as `siskin marts sources` does: tests earlier in this process may
    # have declared extra tables (a benchmark's filter table), which the committed file rightly lacks
    generate = "from siskin.marts.sources import sources_yaml; print(sources_yaml(), end='')"
    fresh = subprocess.run(
        [sys.executable, "-c", generate],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert SOURCES_FILE.read_text() == fresh
    declared = {(s["name"], t["name"]) for s in sources_document()["sources"] for t in s["tables"]}
    assert (
        ("silver", "alerts") in declared
        and ("gold", "objects") in declared
        and ("gold", "lightcurves") in declared
    )
    assert not any(name == "nightly_summary" for _, name in declared)  # marts are not their own sources
    freshness = {t["name"]: t.get("config", {}) for s in sources_document()["sources"] for t in s["tables"]}
    assert freshness["alerts"]["loaded_at_field"] == "processed_at"


def test_marts_are_catalog_tables_in_gold() -> None:
    marts = {t.name for t in tables(writer="marts")}
    assert marts == {
        "gold.nightly_summary",
        "gold.candidates",
        "gold.object_lightcurves",
        "gold.class_transitions",
    }
    assert table("gold.nightly_summary").key == ("night",)


def _alerts(lake: Path) -> pa.Table:
    return DeltaTable(str(lake / "silver" / "alerts")).to_pyarrow_table(
        columns=["night", "objectId", "candid", "jd", "fid", "finkclass", "quality_ok"]
    )


@pytest.mark.slow
def test_dbt_build_publishes_delta_marts(marts_lake: Path) -> None:
    from siskin.marts import build

    settings = Settings(lake=str(marts_lake))
    result = build(settings)
    assert set(result.statuses) <= {"success", "pass", "warn"}, result.statuses
    assert result.statuses.get("pass", 0) >= 10  # data tests and unit tests ran
    alerts = _alerts(marts_lake)
    assert alerts.num_rows > 0

    summary = DeltaTable(str(marts_lake / "gold" / "nightly_summary")).to_pyarrow_table()
    per_night = Counter(alerts.column("night").to_pylist())
    got = dict(zip(summary.column("night").to_pylist(), summary.column("n_alerts").to_pylist(), strict=True))
    assert got == dict(per_night)
    classes = dict(summary.sort_by("night").column("alerts_per_class")[0].as_py())
    first = alerts.filter(pc.equal(alerts.column("night"), min(per_night)))
    assert classes == dict(Counter(c or "unclassified" for c in first.column("finkclass").to_pylist()))
    # the one-scan aggregation (grouping sets) gives the same per-night counts as counting directly
    row = summary.sort_by("night").slice(0, 1).to_pylist()[0]
    assert row["n_objects"] == len(set(first.column("objectId").to_pylist()))
    assert row["n_good"] == sum(bool(q) for q in first.column("quality_ok").to_pylist())
    bands = Counter({1: "g", 2: "r", 3: "i"}.get(f, "unknown") for f in first.column("fid").to_pylist())
    assert dict(row["alerts_per_band"]) == dict(bands)
    assert dict(row["alerts_per_survey"]) == {"ztf": first.num_rows}

    lightcurves = DeltaTable(str(marts_lake / "gold" / "object_lightcurves")).to_pyarrow_table()
    assert lightcurves.num_rows == len(set(alerts.column("objectId").to_pylist()))
    assert all(
        p == sorted(p, key=lambda x: x["jd"]) for p in lightcurves.column("points").to_pylist()
    )  # points sorted by time

    candidates = DeltaTable(str(marts_lake / "gold" / "candidates")).to_pyarrow_table()
    latest: dict[str, tuple[float, str]] = {}
    for row in alerts.filter(pc.is_valid(alerts.column("finkclass"))).to_pylist():
        if row["objectId"] not in latest or row["jd"] > latest[row["objectId"]][0]:
            latest[row["objectId"]] = (row["jd"], row["finkclass"])
    expected = {oid: c for oid, (_, c) in latest.items() if c != "Unknown"}
    got_classes = dict(
        zip(candidates.column("object_id").to_pylist(), candidates.column("class").to_pylist(), strict=True)
    )
    assert got_classes == expected

    history = DeltaTable(str(marts_lake / "gold" / "class_history")).to_pyarrow_table()
    changed = {
        (r["objectId"], r["candid"], r["class_version"])
        for r in history.to_pylist()
        if r["previous_class"] is not None and r["class"] is not None and r["previous_class"] != r["class"]
    }
    transitions = DeltaTable(str(marts_lake / "gold" / "class_transitions")).to_pyarrow_table().to_pylist()
    assert {(r["object_id"], r["alert_id"], r["class_version"]) for r in transitions} == changed
    assert len(transitions) == len(changed)

    # DuckDB's delta extension reads the marts too
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    import sysconfig

    shipped = sorted(
        Path(sysconfig.get_paths()["purelib"]).glob("duckdb_ext/extensions/*/*/delta.duckdb_extension")
    )
    con.execute(f"LOAD '{shipped[0]}'" if shipped else "LOAD delta")  # duckdb-ext-delta's copy: no download
    n = con.execute(
        f"SELECT count(*) FROM delta_scan('{marts_lake / 'gold' / 'nightly_summary'}')"
    ).fetchone()
    assert n == (len(per_night),)
    assert Path(result.docs or "").is_file() and os.path.getsize(result.docs or "") > 100_000

    # rebuilding one night replaces that night's row only: the tables are unchanged
    again = build(settings, min(per_night), docs=False)
    assert again.rows["gold.nightly_summary"] == 1
    after = DeltaTable(str(marts_lake / "gold" / "nightly_summary")).to_pyarrow_table()
    assert after.sort_by("night").to_pylist() == summary.sort_by("night").to_pylist()
