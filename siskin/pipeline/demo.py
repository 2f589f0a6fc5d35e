"""The main job on the embedded default: a simulated night through Kafka into every layer, then its nightly.

Starts the embedded Kafka-compatible broker (or uses the configured one), publishes a night of
simulated ZTF alerts at a steady rate while the bronze, silver and gold streaming queries run,
waits until every layer holds the whole night, stops the queries and reports what landed. Then
`run_nightly` runs the `nightly` Airflow DAG for that night in this process (`dag.test()`), and says
where its report, Data Docs, dbt docs and exports are, with one query against a mart.
A second run simulates the next night, so objects recur with their history.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from siskin.config import Settings
from siskin.pipeline.progress import (
    caught_up,
    committed_kafka_messages,
    stop_all,
    wait_until,
)
from siskin.query.science_summary import ScienceSummary, science_summary
from siskin.query.summary import LakeSummary, summarize

TOPIC = "ztf-demo"
DEMO_EXPORT = "demo_good_alerts"  # the export spec the demo adds when none is configured
MART_QUERY = (
    "SELECT night, n_alerts, n_objects, n_good, round(quality_ok_fraction, 3) AS quality_ok_fraction, "
    "n_rejects, latency_p50_s FROM gold.nightly_summary WHERE night = {night}"
)


@dataclass
class DemoResult:
    """The night simulated, how many alerts were published, and what the lake holds now."""

    night: int
    published: int
    seconds: float
    summary: LakeSummary
    science: ScienceSummary | None = None
    watch_command: str = ""
    settings: Settings | None = None  # as the demo ran: with the simulated catalogs and their labels


def next_night(settings: Settings) -> int:
    """The night after the latest one in bronze, or today's UTC date for an empty lake."""
    from siskin.query.summary import _counts

    nights = _counts(settings, "bronze.alerts", "bronze")
    if nights.empty:
        return int(datetime.now(UTC).strftime("%Y%m%d"))
    last = str(int(max(nights.index)))
    nxt = date(int(last[:4]), int(last[4:6]), int(last[6:])) + timedelta(days=1)
    return int(nxt.strftime("%Y%m%d"))


def with_simulated_catalogs(
    settings: Settings, folder: Path, night: int, *, alerts: int, seed: int
) -> Settings:
    """Settings whose catalog labels also read the simulated sky's catalogs, loaded into the lake
    (`catalogs.sim_variables` feeds `vsx`, `catalogs.sim_galaxies` feeds `mangrove`)."""
    from siskin.config import CatalogSettings
    from siskin.science.xmatch.catalogs import load_catalog
    from siskin.simulate.catalog import write_simulated_catalogs

    paths = write_simulated_catalogs(folder, night, n_alerts=alerts, seed=seed)
    catalogs = {
        **settings.science.catalogs,
        "sim_variables": CatalogSettings(radius_arcsec=1.5, id="name", type="VType"),
        "sim_galaxies": CatalogSettings(
            radius_arcsec=60.0, id="HyperLEDA_name", columns=["2MASS_name", "lum_dist", "ang_dist"]
        ),
    }
    labels = dict(settings.science.module_config.get("catalog_labels", {}))
    labels.setdefault("vsx", ["vsx", "sim_variables"])
    labels.setdefault("mangrove", ["mangrove", "sim_galaxies"])
    config = {**settings.science.module_config, "catalog_labels": labels}
    science = settings.science.model_copy(update={"catalogs": catalogs, "module_config": config})
    updated = settings.model_copy(update={"science": science})
    for name, path in paths.items():
        load_catalog(updated, path, name)
    return updated


def run_demo(
    settings: Settings,
    *,
    alerts: int = 3000,
    rate: float = 500.0,
    night: int | None = None,
    partitions: int = 4,
    seed: int = 42,
    timeout_s: float = 900.0,
    say: Callable[[str], None] = print,
) -> DemoResult:
    """Run the whole night through the lake and return the summary."""
    from siskin.broker.tansu import EmbeddedBroker
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.simulate.ztf import simulate_night
    from siskin.sources.kafka_publish import publish

    night = night or next_night(settings)
    work = Path(settings.lake_uri) / "_embedded" if "://" not in settings.lake_uri else Path(".siskin")
    work.mkdir(parents=True, exist_ok=True)
    broker = EmbeddedBroker(work) if settings.kafka.embedded else None
    try:
        if broker is not None:
            broker.start()
            broker.create_topic(TOPIC, partitions)
            bootstrap = broker.bootstrap
            say(f"embedded broker (tansu) listening on {bootstrap}")
        else:
            bootstrap = settings.kafka.bootstrap
        streams = settings.streams.model_copy(update={"enabled": True, "bootstrap": bootstrap})
        settings = settings.model_copy(update={"streams": streams})
        settings = with_simulated_catalogs(settings, work / "catalogs", night, alerts=alerts, seed=seed)
        say("simulated catalogs loaded: catalogs.sim_variables (-> vsx), catalogs.sim_galaxies (-> mangrove)")
        house = Lakehouse(settings)
        house.ensure_tables()
        say(f"simulating night {night}: {alerts} ZTF alerts at {rate:.0f} alerts/s to topic {TOPIC}")
        sent: dict[str, int] = {}
        failure: list[BaseException] = []

        def produce() -> None:
            try:
                stats = publish(
                    simulate_night(night, n_alerts=alerts, seed=seed), TOPIC, bootstrap, rate_per_s=rate
                )
                sent["n"] = stats.messages
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                failure.append(exc)

        started = time.monotonic()
        producer = threading.Thread(target=produce, name="siskin-simulator", daemon=True)
        producer.start()
        name = house.kafka_query_name(bootstrap, [TOPIC], None)
        queries = [
            house.start_bronze_kafka(bootstrap=bootstrap, topics=[TOPIC], starting_offsets="earliest"),
            house.start_silver(),
            house.start_gold(),
            house.start_distribute(),
        ]
        say("streaming queries: bronze_kafka -> silver (+ science) -> gold, silver -> filtered topics")
        try:

            def done() -> bool:
                if failure:
                    raise failure[0]
                if "n" not in sent or committed_kafka_messages(settings, name) < sent["n"]:
                    return False
                return all(caught_up(settings, q) for q in ("silver", "gold", "distribute"))

            wait_until(done, queries, timeout_s=timeout_s, what="the night to reach gold and the topics")
        finally:
            stop_all(queries)
            house.release()
        elapsed = time.monotonic() - started
        science = science_summary(settings, night)
        sample = _first_alerts(settings, science)
    finally:
        if broker is not None:
            broker.stop()
    summary = summarize(settings)
    return DemoResult(night, sent.get("n", 0), elapsed, summary, science, sample, settings)


def _first_alerts(settings: Settings, science: ScienceSummary, n: int = 3) -> str:
    """A few alerts read back from the busiest filter topic (Siskin's consumer, the published schema),
    and the command that watches it on a running deployment."""
    from siskin.streams.watch import watch

    busy = [(m, t) for _, t, m, _ in science.topics if m]
    if not busy:
        return ""
    _, topic = max(busy)
    lines = [f"first alerts on {topic} (read back from Kafka, decoded with lake/_schemas/{topic}.avsc):"]
    for alert in watch(settings, topic, max_messages=n, idle_timeout_s=30, group_id="siskin-demo"):
        shown = {k: alert.get(k) for k in ("objectId", "candid", "magpsf", "finkclass", "vsx")}
        lines.append(f"  {shown}")
    lines.append(f"watch it live on a running deployment: siskin streams watch {topic}")
    if settings.kafka.embedded:
        lines.append(
            "  (the demo's embedded broker keeps topics in memory and stops with the demo; run"
            " `siskin broker` and `SISKIN_STREAMS__ENABLED=true siskin ingest kafka ...` to keep one up)"
        )
    return "\n".join(lines)


def with_demo_export(settings: Settings) -> Settings:
    """The settings, plus one export spec (the night's good alerts as Parquet, into the lake's default
    exports root) when none is configured, so the nightly's export step has something to write."""
    from siskin.config import ExportClause, ExportSpec

    if settings.exports.specs:
        return settings
    spec = ExportSpec(
        who="the demo's collaborator",
        table="silver.alerts",
        columns=["objectId", "candid", "jd", "ra", "dec", "fid", "magpsf", "sigmapsf", "finkclass"],
        where=[ExportClause(column="quality_ok", op="==", value=True)],
        format="parquet",
    )
    exports = settings.exports.model_copy(update={"specs": {DEMO_EXPORT: spec}})
    return settings.model_copy(update={"exports": exports})


def nightly_environment(settings: Settings) -> dict[str, str]:
    """What the DAG's tasks need to see the demo's settings: they read theirs from the environment (and
    the TOML file), so the demo's additions (simulated catalogs, their labels, the export) travel as JSON."""
    science = settings.science
    return {
        "SISKIN_LAKE": settings.lake_uri,
        "SISKIN_SCIENCE__CATALOGS": json.dumps(
            {k: v.model_dump(mode="json") for k, v in science.catalogs.items()}
        ),
        "SISKIN_SCIENCE__MODULE_CONFIG": json.dumps(science.module_config),
        "SISKIN_EXPORTS__SPECS": json.dumps(
            {k: v.model_dump(mode="json") for k, v in settings.exports.specs.items()}
        ),
    }


@dataclass
class NightlyResult:
    """The nightly run of the demo's night: task states and seconds, each step's summary, where its
    outputs are, and one query against a mart with its result."""

    night: int
    seconds: float
    run: dict[str, Any]
    query: str = ""
    query_result: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


def run_nightly(settings: Settings, night: int, *, say: Callable[[str], None] = print) -> NightlyResult:
    """Run the `nightly` DAG for the night in this process (`dag.test()` on the local Airflow home); a
    SiskinError naming the failed tasks unless every task succeeded. Then query a mart."""
    from siskin.orchestration import dag_test

    started = time.monotonic()
    settings = with_demo_export(settings)
    os.environ.update(nightly_environment(settings))
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # the steps' summaries say enough
    local = dag_test.configure(settings)
    say(f"nightly DAG for night {night}: dag.test() with Airflow home {local.home} (several minutes)")
    dag_test.init_db()
    run = dag_test.run_dag("nightly", {"night": night})
    result = NightlyResult(night, time.monotonic() - started, run)
    steps = run.get("summaries", {})
    quality = steps.get("data_quality") or {}
    result.outputs = {
        "nightly report": str(quality.get("report") or ""),
        "Data Docs": str(quality.get("data_docs") or ""),
        "dbt docs": str((steps.get("dbt") or {}).get("docs") or ""),
    }
    for name, export in sorted(((steps.get("exports") or {}).get("exports") or {}).items()):
        result.outputs[f"export {name} ({export['rows']} rows)"] = str(export["location"])
    result.query = MART_QUERY.format(night=int(night))
    result.query_result = mart_query(settings, result.query)
    return result


def mart_query(settings: Settings, sql: str) -> str:
    """A query over the lake as `siskin sql` answers it (its library function), as a text table."""
    from siskin.lake.engine import get_engine
    from siskin.query.export import format_table
    from siskin.query.sql import run_sql
    from siskin.spark.session import build_spark

    df = run_sql(build_spark(settings), get_engine(settings.delta.engine), settings.lake_uri, sql)
    return format_table(df, 10)


def format_nightly(result: NightlyResult, settings: Settings) -> str:
    """What the nightly run did, step by step, where its outputs are, and how to open the Airflow UI."""
    run = result.run
    lines = [f"nightly DAG for night {result.night}: {run['state']} in {result.seconds:.0f} s"]
    summaries = run.get("summaries", {})
    for task, seconds in run.get("task_seconds", {}).items():
        summary = summaries.get(task)
        lines.append(
            f"  {task:<13} {run['tasks'].get(task, '?'):<8} {seconds:7.1f} s  {_note(summary)}".rstrip()
        )
    lines.append("")
    for what, where in result.outputs.items():
        lines.append(f"{what}: {where or '(none)'}")
    lines += ["", f'a mart, through `siskin sql`:  siskin sql "{result.query}"', result.query_result, ""]
    lines.append(
        f"Airflow UI with these DAGs and this run: siskin airflow --lake {settings.lake_uri}  "
        f"(http://{settings.airflow.host}:{settings.airflow.port}; it prints the generated passwords)"
    )
    return "\n".join(lines)


def _note(summary: object) -> str:
    """One line about what a step did, from its summary."""
    if not isinstance(summary, dict):
        return ""
    skipped = summary.get("skipped")
    if isinstance(skipped, str):
        return skipped
    if summary.get("nights"):
        return f"replayed night(s) {summary['nights']}: {summary.get('class_changes', 0)} class changes"
    if isinstance(skipped, dict) and skipped:
        return "; ".join(str(v) for v in skipped.values())
    if "status" in summary:
        return f"{summary['status']} ({summary.get('checks', 0)} checks)"
    if "dbt" in summary:
        return f"dbt {summary['dbt']}, marts {summary.get('rows', {})}"
    if "catalogs" in summary:
        return f"{len(summary['catalogs'])} catalogs: {summary['catalogs']}"
    if "exports" in summary:
        return ", ".join(f"{name}: {e['rows']} rows" for name, e in summary["exports"].items())
    if "partitions_rewritten" in summary:
        return f"{summary['partitions_rewritten']} partitions compacted"
    return ""
