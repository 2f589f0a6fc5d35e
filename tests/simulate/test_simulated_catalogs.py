"""The simulator's catalogs make the demo's cross-match labels real matches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa

from siskin.config import Settings
from siskin.simulate.catalog import simulated_catalogs

NIGHT = 20260305


def test_catalogs_hold_the_nights_variable_stars_and_a_host_near_each_supernova() -> None:
    from siskin.simulate.nights import night_detections
    from siskin.simulate.population import Kind, Population
    from siskin.simulate.schedule import night_id

    cats = simulated_catalogs(NIGHT, n_alerts=400, seed=3)
    alerts, _ = night_detections(Population(seed=3, n_alerts=400), night_id(NIGHT))
    variable_keys = set(alerts["key"][np.isin(alerts["kind"], [int(Kind.RRLYR), int(Kind.LPV)])].tolist())
    names = cats["sim_variables"].column("name").to_pylist()
    assert len(names) == len(variable_keys) > 0
    assert {int(n.split("V")[1]) for n in names} == variable_keys
    assert set(cats["sim_variables"].column("VType").to_pylist()) <= {"RRAB", "M"}
    sn = alerts["kind"] == int(Kind.SN)
    hosts = cats["sim_galaxies"]
    assert hosts.num_rows == len(set(alerts["key"][sn].tolist())) > 0
    assert simulated_catalogs(NIGHT, n_alerts=400, seed=3)["sim_galaxies"].equals(hosts)  # deterministic


def test_demo_settings_label_simulated_alerts_with_the_simulated_catalogs(tmp_path: Path) -> None:
    from siskin.bronze.transform import kafka_received_arrow, to_bronze_table
    from siskin.pipeline.demo import with_simulated_catalogs
    from siskin.science import enrich
    from siskin.silver.transform import decode_bronze
    from siskin.simulate.ztf import simulate_night

    base = Settings(lake=str(tmp_path / "lake"), science={"modules": ["catalog_labels"]})
    settings = with_simulated_catalogs(base, tmp_path / "cats", NIGHT, alerts=300, seed=5)
    payloads = list(simulate_night(NIGHT, n_alerts=300, seed=5))
    n = len(payloads)
    messages = pa.table(
        {
            "value": pa.array(payloads, pa.binary()),
            "topic": pa.array(["ztf"] * n),
            "partition": pa.array([0] * n, pa.int32()),
            "offset": pa.array(np.arange(n), pa.int64()),
            "timestamp": pa.array([1_772_000_000_000] * n, pa.int64()),
            "sent_ns": pa.nulls(n, pa.int64()),
        }
    )
    enrich._BUILT.clear()
    silver = decode_bronze(to_bronze_table(kafka_received_arrow(messages), settings.decode), settings)
    alerts = silver["silver.alerts"]
    vsx = Counter(alerts.column("vsx").to_pylist())
    assert vsx["RRAB"] + vsx["M"] > 0, vsx
    hosts = [m["HyperLEDA_name"] for m in alerts.column("mangrove").to_pylist() if m is not None]
    assert any(h.startswith("SIM G") for h in hosts)
    # the real catalogs are not in this lake: absent catalogs give no label, never an error
    assert alerts.column("gcvs").null_count == alerts.num_rows
