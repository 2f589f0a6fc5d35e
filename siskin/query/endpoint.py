"""The warm SQL endpoint: a Spark Thrift Server (HiveServer2, from pyspark's jars) over the lake's tables.

`serve(settings)` runs it in this process (`siskin serve sql`): a Spark session whose in-memory catalog
holds every lake table as `layer.table` (`silver.alerts`, `gold.objects`) and the catalog's views
(`gold.lightcurves`) over them. On a local lake a table is a `USING parquet` table over a hard-linked
tree of its latest Delta version (`siskin.query.snapshots`), read by Spark's native Parquet reader and
re-pointed every `refresh_s` (1 s) when a commit lands; `wait_until_current` waits for a commit to be
served. On an object store a table is a Python data source (`siskin.query.lake_source`) that plans over
the latest version per query. The watcher also adds tables that appear later and re-declares a table
whose schema changed.
JDBC/ODBC clients, PyHive and dbt-spark's `thrift` method connect to it; it speaks Spark SQL.

`start(settings)` runs `siskin serve sql` as a background process and waits until it answers,
`running(settings)` says whether one is up for this lake, `stop(settings)` ends it.
The catalog is in memory (no Derby metastore), so any number of other Spark processes may run.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from siskin.config import Settings
from siskin.errors import ConfigurationError, SiskinError

LOOPBACK = ("127.0.0.1", "::1", "localhost")
# The endpoint's JVM compiles with C1 only. Its work is many short queries, each with freshly generated
# code: C2 spent more CPU compiling than its faster code saved (a dbt build of the demo lake: 36 s of C2
# compiler threads out of ~100 s of JVM CPU). Measured, cold endpoint + one marts build on 20k alerts:
# start 16 -> 8 s, build 54 -> 40 s, endpoint CPU 66 -> 49 s. A long scan runs ~2x slower on C1 code
# (the full gold.lightcurves view: 3 -> 6-7 s warm); for an endpoint serving mostly large scans, set
# `spark.driver.extraJavaOptions` in `spark.conf` (it replaces these and Siskin's log/Derby options).
ENDPOINT_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)
STATE_FILE = "endpoint.json"
VERSIONS_FILE = "versions.json"  # the Delta version of each table the endpoint serves, after each sync


@dataclass(frozen=True)
class Endpoint:
    """A running endpoint: where it listens, its process, the lake it serves."""

    host: str
    port: int
    pid: int
    lake: str
    auth: str
    started_at: float


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine."""
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth(settings: Settings) -> None:
    """Refuse an endpoint reachable from other machines without authentication."""
    cfg = settings.sql_endpoint
    if cfg.auth == "none" and not is_loopback(cfg.host):
        raise ConfigurationError(
            f"refusing to serve SQL on {cfg.host} without authentication: bind to 127.0.0.1, or set "
            "sql_endpoint.auth = 'ldap' with sql_endpoint.ldap_url"
        )
    if cfg.auth == "ldap" and not cfg.ldap_url:
        raise ConfigurationError("sql_endpoint.auth = 'ldap' needs sql_endpoint.ldap_url")


def state_dir(settings: Settings) -> Path:
    """Where the running endpoint's address and pid are kept."""
    if settings.sql_endpoint.state_dir:
        return Path(settings.sql_endpoint.state_dir)
    if "://" in settings.lake_uri and not settings.lake_uri.startswith("file://"):
        return Path.home() / ".siskin" / "sql_endpoint"
    return Path(settings.lake_uri.removeprefix("file://")) / "_sql_endpoint"


def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running(settings: Settings) -> Endpoint | None:
    """The endpoint serving this lake, when its process is alive and its port answers."""
    path = state_dir(settings) / STATE_FILE
    try:
        info = Endpoint(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if info.lake != settings.lake_uri or not _pid_alive(info.pid):
        return None
    host = "127.0.0.1" if info.host in ("0.0.0.0", "::") else info.host
    return info if _port_open(host, info.port) else None


# --- the server (in this process) ---------------------------------------------------------------


def _hive_conf(settings: Settings, port: int) -> dict[str, str]:
    cfg = settings.sql_endpoint
    conf = {
        "hive.server2.thrift.bind.host": cfg.host,
        "hive.server2.thrift.port": str(port),
        "hive.server2.transport.mode": "binary",
        "hive.server2.authentication": "NONE" if cfg.auth == "none" else "LDAP",
        # Closing a client session makes Hive open a metastore client it does not need (the catalog is
        # Spark's, in memory): point it at a closed port so it fails at once, rather than booting a
        # Derby metastore (seconds) that cannot start here and is retried 10 times 2 s apart.
        "hive.metastore.uris": "thrift://127.0.0.1:1",
        "hive.metastore.connect.retries": "1",
        "hive.metastore.failure.retries": "0",
        "hive.metastore.client.connect.retry.delay": "0s",
        "hive.hmshandler.retry.attempts": "1",
        "hive.hmshandler.retry.interval": "0",
        # ... and the same through the Hadoop configuration, which is what Hive's execution client
        # actually reads: each session close tried to boot an embedded Derby metastore through
        # DataNucleus and failed (0.1-1 s of CPU and a stack trace in derby.log per close; dbt opens
        # and closes a session per node). With no raw store to load the attempt fails at once.
        "spark.hadoop.hive.metastore.uris": "thrift://127.0.0.1:1",
        "spark.hadoop.hive.metastore.rawstore.impl": "siskin.NoMetastore",
        "spark.hadoop.hive.metastore.connect.retries": "1",
        "spark.hadoop.hive.hmshandler.retry.attempts": "1",
        "spark.hadoop.hive.hmshandler.retry.interval": "0",
    }
    if cfg.auth == "ldap":
        conf["hive.server2.authentication.ldap.url"] = str(cfg.ldap_url)
        if cfg.ldap_base_dn:
            conf["hive.server2.authentication.ldap.baseDN"] = cfg.ldap_base_dn
    return conf


class LakeCatalog:
    """Declares the lake's tables and views in a Spark session's catalog and keeps them current.

    On a local lake each table is a `USING parquet` table over a hard-linked tree of its latest Delta
    version (`siskin.query.snapshots`), re-pointed at the next version's tree when a commit lands: Spark
    reads it natively (file and row-group pruning, no Python worker), and a query sees the versions
    current at the last sync (`refresh_s`). Elsewhere, and for a version that needs the log to be read
    right, a table is a Python data source that plans over the latest version per query.
    """

    def __init__(
        self, spark: Any, lake_uri: str, snapshots: Path | None = None, grace_s: float = 900.0
    ) -> None:
        from siskin.query.snapshots import SnapshotTree

        self.spark = spark
        self.lake_uri = lake_uri
        self.schemas: dict[str, str] = {}  # table -> its schema (and how it is served) as declared
        self.versions: dict[str, int] = {}  # table -> the Delta version served (native tables)
        self.locations: dict[str, Path] = {}
        self.tree = SnapshotTree(snapshots, grace_s) if snapshots is not None else None
        self._open: dict[str, Any] = {}

    def sync(self) -> list[str]:
        """Declare new tables, re-point or re-declare changed ones, then the views; the names declared now."""
        from siskin.lake.catalog import tables, views

        changed = False
        for spec in tables():
            changed |= self._sync_table(spec.name, spec.path(self.lake_uri))
        if changed:
            for view in views():
                if all(name in self.schemas for name in view.needs):
                    self._declare_view(view.name, view.text())
        if self.tree is not None:
            self.tree.prune()
        return sorted(self.schemas)

    def _current(self, name: str, uri: str) -> Any:
        """The table at its latest version (loaded incrementally), or None while it does not exist."""
        from siskin.lake.transactions import open_table

        table = self._open.get(name)
        if table is None:
            table = open_table(uri)
            if table is None:
                return None
            self._open[name] = table
        else:
            table.update_incremental()
        return table

    def _sync_table(self, name: str, uri: str) -> bool:
        """Bring one table up to date; whether its schema (or the way it is served) changed."""
        import pyarrow as pa

        table = self._current(name, uri) if self.tree is not None else None
        if self.tree is not None and table is None:
            return False
        if table is not None and self.tree is not None:
            if self.versions.get(name) == table.version():
                return False
            snapshot = self.tree.build(name, Path(uri.removeprefix("file://")), table)
            if snapshot is not None:
                text = "parquet:" + snapshot.schema.to_string(show_schema_metadata=False)
                text += ":" + ",".join(snapshot.partition_by)
                same = self.schemas.get(name) == text
                self._declare_native(name, snapshot, replace=name in self.schemas, repoint=same)
                self.schemas[name] = text
                self.versions[name] = snapshot.version
                return not same
        from siskin.lake.transactions import open_table

        if table is None:
            table = open_table(uri)
            if table is None:
                return False
        schema = pa.schema(table.schema().to_arrow())
        text = "python:" + schema.to_string(show_schema_metadata=False)
        self.versions.pop(name, None)
        if self.schemas.get(name) == text:
            return False
        self._declare(name, uri, schema, replace=name in self.schemas)
        self.schemas[name] = text
        return True

    def _declare_native(self, name: str, snapshot: Any, replace: bool, repoint: bool) -> None:
        from siskin.query.snapshots import create_table_sql

        layer, short = name.split(".", 1)
        qualified = f"`{layer}`.`{short}`"
        location = str(snapshot.location).replace("'", "\\'")
        if repoint:
            self.spark.sql(f"ALTER TABLE {qualified} SET LOCATION '{location}'")
        else:
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`")
            if replace:
                self.spark.sql(f"DROP TABLE IF EXISTS {qualified}")
            self.spark.sql(create_table_sql(qualified, snapshot))
        previous = self.locations.get(name)
        if previous is not None and previous != snapshot.location and self.tree is not None:
            self.tree.retire(previous)
        self.locations[name] = snapshot.location

    def _declare(self, name: str, uri: str, schema: Any, replace: bool) -> None:
        from siskin.query.lake_source import make_source, source_name

        layer, short = name.split(".", 1)
        self.spark.dataSource.register(make_source(name, uri, schema))
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`")
        if replace:
            self.spark.sql(f"DROP TABLE IF EXISTS `{layer}`.`{short}`")
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS `{layer}`.`{short}` USING {source_name(name)}")

    def _declare_view(self, name: str, text: str) -> None:
        from siskin.query.sql import view_name

        for table in self.schemas:
            text = text.replace(view_name(table), table)
        layer, short = name.split(".", 1)
        self.spark.sql(f"CREATE DATABASE IF NOT EXISTS `{layer}`")
        self.spark.sql(f"CREATE OR REPLACE VIEW `{layer}`.`{short}` AS {text}")


def endpoint_spark(settings: Settings, extra: dict[str, str]) -> Any:
    """The endpoint's Spark session: the project's session plus pushdown to the lake's data sources."""
    from siskin.spark.session import _java_options, build_spark

    conf = {**settings.spark.conf, **extra}
    # Hive's execution metastore (an in-memory Derby opened when a client session closes) fails to boot
    # under the Derby home other Siskin processes share; give the endpoint a fresh one of its own.
    derby = state_dir(settings) / "derby"
    shutil.rmtree(derby, ignore_errors=True)
    derby.mkdir(parents=True, exist_ok=True)
    options = [o for o in _java_options() if not o.startswith("-Dderby.system.home=")]
    options += list(ENDPOINT_JVM_OPTIONS)
    conf.setdefault("spark.driver.extraJavaOptions", " ".join([*options, f"-Dderby.system.home={derby}"]))
    conf.setdefault("spark.sql.python.filterPushdown.enabled", "true")
    conf.setdefault("spark.sql.catalogImplementation", "in-memory")
    # native tables: partitions come from the snapshot tree's hive-style paths, not from the catalog
    conf.setdefault("spark.sql.hive.manageFilesourcePartitions", "false")
    conf.setdefault("spark.sql.hive.thriftServer.singleSession", "true")
    # dbt's scratch tables (the marts before publishing) live only as long as this in-memory catalog
    warehouse = state_dir(settings) / "warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    conf.setdefault("spark.sql.warehouse.dir", str(warehouse))
    conf.setdefault("spark.sql.legacy.allowNonEmptyLocationInCTAS", "true")
    return build_spark(
        settings.model_copy(update={"spark": settings.spark.model_copy(update={"conf": conf})})
    )


def _write_versions(state: Path, versions: dict[str, int]) -> None:
    """Publish the versions now served (atomically), for clients that must see a commit they made."""
    state.mkdir(parents=True, exist_ok=True)
    scratch = state / (VERSIONS_FILE + ".tmp")
    scratch.write_text(json.dumps({"versions": versions, "pid": os.getpid(), "at": time.time()}))
    scratch.replace(state / VERSIONS_FILE)


def wait_until_current(settings: Settings, timeout_s: float = 60.0) -> dict[str, int]:
    """Block until the running endpoint serves every natively served table at least at its latest version.

    The endpoint re-points its tables every `refresh_s`; a client that has just committed (the
    nightly's steps before dbt) calls this so its next query sees that commit. Returns the versions.
    """
    from siskin.lake.catalog import tables
    from siskin.lake.transactions import open_table

    info = running(settings)
    if info is None:
        raise SiskinError("no SQL endpoint is running for this lake (start one: siskin serve sql)")
    path = state_dir(settings) / VERSIONS_FILE
    deadline = time.monotonic() + timeout_s
    latest: dict[str, int] = {}
    for spec in tables():
        table = open_table(spec.path(settings.lake_uri))
        if table is not None:
            latest[spec.name] = int(table.version())
    while True:
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        served = state.get("versions", {}) if state.get("pid") == info.pid else {}
        behind = {n: v for n, v in latest.items() if n in served and served[n] < v}
        if not behind and state.get("pid") == info.pid:
            return {n: int(v) for n, v in served.items()}
        if time.monotonic() > deadline:
            raise SiskinError(
                f"the SQL endpoint did not catch up within {timeout_s:.0f} s: {behind or 'no sync'}"
            )
        time.sleep(min(0.2, settings.sql_endpoint.refresh_s))


def serve(settings: Settings, *, port: int | None = None, ready: Any = None) -> int:
    """Run the endpoint in this process until SIGINT/SIGTERM; 0 after a clean stop."""
    check_auth(settings)
    cfg = settings.sql_endpoint
    port = port or cfg.port
    if _port_open("127.0.0.1" if not is_loopback(cfg.host) else cfg.host, port, timeout=0.5):
        raise SiskinError(f"port {port} on {cfg.host} is already in use (is an endpoint running?)")
    spark = endpoint_spark(settings, _hive_conf(settings, port))
    snapshots = None
    if cfg.native and ("://" not in settings.lake_uri or settings.lake_uri.startswith("file://")):
        snapshots = state_dir(settings) / "snapshots"
        shutil.rmtree(snapshots, ignore_errors=True)  # trees of an earlier run are not served any more
    catalog = LakeCatalog(spark, settings.lake_uri, snapshots, cfg.snapshot_grace_s)
    names = catalog.sync()
    _write_versions(state_dir(settings), catalog.versions)
    jvm = spark.sparkContext._jvm
    server = jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(
        spark._jsparkSession.sqlContext()
    )
    deadline = time.monotonic() + cfg.start_timeout_s
    probe = "127.0.0.1" if not is_loopback(cfg.host) else cfg.host
    while not _port_open(probe, port, timeout=0.5):
        if time.monotonic() > deadline:
            server.stop()
            raise SiskinError(f"the Thrift server did not listen on {cfg.host}:{port}")
        time.sleep(0.2)
    info = Endpoint(cfg.host, port, os.getpid(), settings.lake_uri, cfg.auth, time.time())
    state = state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    (state / (STATE_FILE + ".tmp")).write_text(json.dumps(asdict(info)))
    (state / (STATE_FILE + ".tmp")).replace(state / STATE_FILE)
    print(
        f"SQL endpoint on {cfg.host}:{port} (auth: {cfg.auth}), {len(names)} tables: {', '.join(names)}",
        flush=True,
    )
    stopping = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if ready is not None:
        ready(info)
    try:
        while not stopping.wait(cfg.refresh_s):
            try:
                catalog.sync()
                _write_versions(state_dir(settings), catalog.versions)
            except Exception as exc:  # noqa: BLE001 - a table mid-creation must not stop the server
                print(f"siskin serve sql: catalog refresh failed: {exc}", file=sys.stderr, flush=True)
    finally:
        try:
            if (state / STATE_FILE).is_file() and json.loads((state / STATE_FILE).read_text())[
                "pid"
            ] == info.pid:
                (state / STATE_FILE).unlink()
        except (OSError, ValueError, KeyError):
            pass
        server.stop()
        spark.stop()
    return 0


# --- the server as a background process ------------------------------------------------------------


def start(settings: Settings, *, port: int | None = None, log: Path | None = None) -> Endpoint:
    """Start `siskin serve sql` in the background (or return the one already serving this lake)."""
    current = running(settings)
    if current is not None:
        return current
    check_auth(settings)
    state = state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    log = log or state / "endpoint.log"
    cmd = [sys.executable, "-m", "siskin.cli.main", "--lake", settings.lake_uri, "serve", "sql"]
    cmd += ["--port", str(port or settings.sql_endpoint.port), "--host", settings.sql_endpoint.host]
    env = {**os.environ, "SISKIN_SQL_ENDPOINT__STATE_DIR": str(state)}
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    with open(log, "ab") as out:
        process = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True
        )
    deadline = time.monotonic() + settings.sql_endpoint.start_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise SiskinError(f"the SQL endpoint exited with status {process.returncode}: {' | '.join(tail)}")
        info = running(settings)
        if info is not None and info.pid == process.pid:
            return info
        time.sleep(0.5)
    process.terminate()
    raise SiskinError(f"the SQL endpoint did not start within {settings.sql_endpoint.start_timeout_s:.0f} s")


def stop(settings: Settings, timeout_s: float = 60.0) -> bool:
    """Stop the endpoint serving this lake (SIGTERM, then SIGKILL); False when none was running."""
    info = running(settings)
    if info is None:
        return False
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _pid_alive(info.pid) and time.monotonic() < deadline:
        try:
            os.waitpid(info.pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.2)
    if _pid_alive(info.pid):
        os.kill(info.pid, signal.SIGKILL)
    (state_dir(settings) / STATE_FILE).unlink(missing_ok=True)
    return True


def connect(settings: Settings, endpoint: Endpoint | None = None) -> Any:
    """A PyHive connection to the running endpoint (DB-API 2.0)."""
    from pyhive import hive  # type: ignore[import-untyped]

    info = endpoint or running(settings)
    if info is None:
        raise SiskinError("no SQL endpoint is running for this lake (start one: siskin serve sql)")
    host = "127.0.0.1" if info.host in ("0.0.0.0", "::") else info.host
    return hive.connect(host=host, port=info.port, username=os.environ.get("USER", "siskin"))
