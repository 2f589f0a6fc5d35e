"""A real local Airflow (`siskin airflow`'s API server, scheduler and DAG processor) runs `nightly` when
triggered through the REST API as a named user; then headless Chromium screenshots the UI, checked."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from siskin.config import Settings

NIGHT_FOLDER = "fink-broker-2020-01-01"  # 50 real alerts of one ZTF exposure
NIGHT = 20200101


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_scheduler_runs_nightly_triggered_through_the_api(
    spark_session: Any, ztf_alert_dir: Path, tmp_path: Path
) -> None:
    from siskin.orchestration import serve
    from siskin.orchestration.local import prepare
    from siskin.orchestration.rest import AirflowClient
    from siskin.orchestration.ui_screens import screenshot_airflow
    from siskin.pipeline.lakehouse import Lakehouse

    settings = Settings(
        lake=tmp_path / "lake", airflow={"home": str(tmp_path / "airflow"), "port": _free_port()}
    )
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    house.start_bronze_files([str(ztf_alert_dir / NIGHT_FOLDER)], available_now=True).awaitTermination()
    house.run_downstream_available_now()
    # This process keeps the silver and gold leases, as running streams do: the nightly's reclassify step
    # (another process) finds the night scored by the current modules and skips it without them.
    from siskin.ops.lease import read_holder

    holders = {name: read_holder(settings.lake_uri, name) for name in ("silver", "gold")}
    assert all(h is not None and h.token for h in holders.values()), holders

    local = prepare(settings)
    assert local.passwords["admin"] != "admin"
    serve.migrate(local)
    running = serve.start(local)
    try:
        health = serve.wait_healthy(running, timeout_s=300)
        assert health["scheduler"]["status"] == "healthy"
        client = AirflowClient(local.url, "admin", local.passwords["admin"])
        with pytest.raises(Exception, match="401"):
            AirflowClient(local.url, "admin", "admin")  # never admin/admin
        client.wait_for_dag("nightly", timeout_s=300)
        run_id = client.trigger("nightly", {"night": NIGHT})
        run = client.wait_for_run("nightly", run_id, timeout_s=900)
        assert run["state"] == "success", run
        assert set(run["tasks"].values()) == {"success"}, run["tasks"]
        assert {"maintain", "xmatch", "reclassify", "statistics", "vacuum"} <= set(run["tasks"])

        stats = DeltaTable(f"{settings.lake_uri}/ops/night_stats").to_pyarrow_table()
        # (the scheduler may also run the latest scheduled interval, an empty night: `no_data`, zero rows)
        stats = stats.filter(pc.equal(stats["night"], NIGHT))
        alerts = stats.filter(pc.and_(pc.equal(stats["metric"], "alerts"), pc.equal(stats["survey"], "ztf")))
        silver = DeltaTable(f"{settings.lake_uri}/silver/alerts").to_pyarrow_table(columns=["night"])
        assert alerts["value"].to_pylist() == [pc.sum(pc.equal(silver["night"], NIGHT)).as_py()]

        if not (shutil.which("chromium") or shutil.which("chromium-browser")):
            pytest.skip("no Chromium (apt-get install -y chromium): the UI screenshot was not taken")
        checks = screenshot_airflow(settings, Path(settings.lake_uri) / "_reports" / "screenshots")
        for check in checks:
            assert check.png.stat().st_size > 10_000, check
            assert check.failed == [], check.failed
            assert check.stylesheets > 0 and check.text_chars > 0, check
            assert check.rendered, check
        assert checks[0].png.name == "airflow.png"
        after = {n: read_holder(settings.lake_uri, n) for n in holders}
        assert {n: h and h.token for n, h in after.items()} == {n: h and h.token for n, h in holders.items()}
    finally:
        running.stop()
        house.release()
    assert running.dead() == list(running.processes)  # every component ended
