"""The main job on the embedded default: a simulated night through Kafka into every layer.

Starts the embedded Kafka-compatible broker (or uses the configured one), publishes a night of
simulated ZTF alerts at a steady rate while the bronze, silver and gold streaming queries run,
waits until every layer holds the whole night, stops the queries and reports what landed.
A second run simulates the next night, so objects recur with their history.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

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


@dataclass
class DemoResult:
    """The night simulated, how many alerts were published, and what the lake holds now."""

    night: int
    published: int
    seconds: float
    summary: LakeSummary
    science: ScienceSummary | None = None
    watch_command: str = ""


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
    import time

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
    return DemoResult(night, sent.get("n", 0), elapsed, summary, science, sample)


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
