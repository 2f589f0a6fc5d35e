"""`siskin marts build`: dbt builds the marts in Spark through the SQL endpoint, then each is published
to Delta in `lake/gold/`.

1. The SQL endpoint serving the lake is used when it runs; otherwise one is started for the build (a
   background `siskin serve sql` on a free loopback port) and stopped after it.
2. `dbt build` (dbt-spark, `thrift` target) runs the project in `models/`: staging and intermediate
   models as views, the marts as Parquet tables in the endpoint's scratch warehouse, the data tests and
   unit tests. Any failing model or test fails the build (nothing is published).
3. Each mart's Parquet files are read back with pyarrow, cast to the schema the catalog declares
   (`siskin.marts.tables`) and written to its Delta table with delta-rs in one commit: an overwrite, or
   for `nightly_summary` with a night, a replacement of that night's row only. A rerun gives the same
   tables.
4. `dbt docs generate --static` writes the docs as one self-contained HTML file under
   `<lake>/_reports/dbt_docs/` (with manifest.json, catalog.json and run_results.json).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siskin.config import Settings
from siskin.errors import SiskinError
from siskin.marts.sources import PROJECT_DIR

MART_SCHEMA = "dbt_marts"  # the Spark schema dbt writes the marts to (dbt_project.yml)
NIGHT_SCOPED = ("gold.nightly_summary",)  # marts that `--night` recomputes for that night only (var night)


@dataclass
class MartsResult:
    """What a build did: rows published per mart, dbt's node statuses, where the docs are."""

    night: int | None
    rows: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)  # dbt status -> nodes (success, pass, warn...)
    warnings: list[str] = field(default_factory=list)
    docs: str | None = None
    endpoint: str = ""
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)


def dbt_env(host: str, port: int, work: Path) -> dict[str, str]:
    """dbt's environment: the endpoint's address, no telemetry, target and logs outside the repository."""
    return {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
        "SISKIN_SQL_HOST": host,
        "SISKIN_SQL_PORT": str(port),
        "SISKIN_DBT_TARGET": "thrift",
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }


def run_dbt(
    args: list[str], env: dict[str, str], project: Path = PROJECT_DIR
) -> subprocess.CompletedProcess[str]:
    """One dbt command over the project (profiles from `SISKIN_DBT_PROFILES_DIR` or the project)."""
    profiles = os.environ.get("SISKIN_DBT_PROFILES_DIR", os.environ.get("DBT_PROFILES_DIR", str(project)))
    cmd = [
        sys.executable, "-c", "import sys; from dbt.cli.main import cli; sys.exit(cli())",
        *args, "--project-dir", str(project), "--profiles-dir", profiles,
    ]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=str(project))


def _results(work: Path) -> list[dict[str, Any]]:
    path = work / "target" / "run_results.json"
    if not path.is_file():
        return []
    return list(json.loads(path.read_text()).get("results", []))


def _failure(proc: subprocess.CompletedProcess[str], work: Path, what: str) -> SiskinError:
    bad = [
        f"{r['unique_id']}: {r['status']}"
        + (f" ({str(r.get('message') or '')[:200]})" if r.get("message") else "")
        for r in _results(work)
        if r.get("status") in ("error", "fail", "runtime error")
    ]
    tail = [line for line in (proc.stdout + proc.stderr).strip().splitlines() if line.strip()][-8:]
    detail = "; ".join(bad) if bad else " | ".join(tail)
    return SiskinError(f"{what} failed (exit {proc.returncode}): {detail}")


def _location(cursor: Any, table: str) -> str:
    cursor.execute(f"DESCRIBE TABLE EXTENDED {MART_SCHEMA}.{table}")
    for row in cursor.fetchall():
        if row[0] and str(row[0]).strip() == "Location":
            return str(row[1]).strip()
    raise SiskinError(f"dbt mart {MART_SCHEMA}.{table} has no location")


def publish(settings: Settings, location: str, spec: Any, night: int | None) -> int:
    """Write one mart's Parquet output to its Delta table in the declared schema; rows written."""
    import pyarrow.dataset as ds
    from deltalake import write_deltalake

    from siskin.lake.transactions import ensure_table

    path = location.removeprefix("file:")
    data = ds.dataset(path, format="parquet").to_table()
    schema = spec.arrow_schema()
    missing = [f.name for f in schema if f.name not in data.column_names]
    if missing:
        raise SiskinError(f"mart {spec.name} lacks the declared columns {missing}")
    data = data.select(schema.names).cast(schema)
    uri = spec.path(settings.lake_uri)
    ensure_table(uri, schema, spec.partition_by, spec.description)
    if night is not None and spec.name in NIGHT_SCOPED:  # only these are computed for one night
        write_deltalake(uri, data, mode="overwrite", predicate=f"night = {int(night)}")
    else:
        write_deltalake(uri, data, mode="overwrite")
    return data.num_rows


def build(settings: Settings, night: int | None = None, *, docs: bool = True) -> MartsResult:
    """Build the marts with dbt through the SQL endpoint and publish them as Delta tables in gold."""
    from siskin.broker.tansu import free_port
    from siskin.marts.tables import MARTS
    from siskin.query import endpoint as ep

    result = MartsResult(night=night)
    clock = time.monotonic()
    info = ep.running(settings)
    started = info is None
    if info is None:
        local = settings.model_copy(
            update={"sql_endpoint": settings.sql_endpoint.model_copy(update={"host": "127.0.0.1"})}
        )
        info = ep.start(local, port=free_port("127.0.0.1"))
    ep.wait_until_current(settings)  # every commit made before this build is what dbt reads
    result.endpoint = f"{info.host}:{info.port}" + (" (started for this build)" if started else "")
    result.seconds["endpoint"] = round(time.monotonic() - clock, 2)
    work = ep.state_dir(settings) / "dbt"
    work.mkdir(parents=True, exist_ok=True)
    env = dbt_env("127.0.0.1" if info.host in ("0.0.0.0", "::") else info.host, info.port, work)
    try:
        clock = time.monotonic()
        proc = run_dbt(["build", "--vars", json.dumps({"night": night})], env)
        result.seconds["dbt_build"] = round(time.monotonic() - clock, 2)
        for r in _results(work):
            result.statuses[r["status"]] = result.statuses.get(r["status"], 0) + 1
            if r["status"] == "warn":
                result.warnings.append(f"{r['unique_id']}: {r.get('message')}")
        if proc.returncode != 0:
            raise _failure(proc, work, "dbt build")
        clock = time.monotonic()
        connection = ep.connect(settings, info)
        try:
            cursor = connection.cursor()
            for spec in MARTS:
                result.rows[spec.name] = publish(settings, _location(cursor, spec.short), spec, night)
        finally:
            connection.close()
        result.seconds["publish"] = round(time.monotonic() - clock, 2)
        if docs:
            clock = time.monotonic()
            result.docs = generate_docs(settings, env, work, night)
            result.seconds["docs"] = round(time.monotonic() - clock, 2)
    finally:
        if started:
            ep.stop(settings)
    return result


def generate_docs(settings: Settings, env: dict[str, str], work: Path, night: int | None = None) -> str:
    """`dbt docs generate --static` into `<lake>/_reports/dbt_docs/index.html` (self-contained).

    With the build's `--vars`, so dbt reuses the build's parse (other vars force a full re-parse)."""
    proc = run_dbt(["docs", "generate", "--static", "--vars", json.dumps({"night": night})], env)
    if proc.returncode != 0:
        raise _failure(proc, work, "dbt docs generate")
    out = Path(settings.lake_uri.removeprefix("file://")) / "_reports" / "dbt_docs"
    out.mkdir(parents=True, exist_ok=True)
    target = work / "target"
    shutil.copyfile(target / "static_index.html", out / "index.html")
    for name in ("manifest.json", "catalog.json", "run_results.json"):
        if (target / name).is_file():
            shutil.copyfile(target / name, out / name)
    return str(out / "index.html")
