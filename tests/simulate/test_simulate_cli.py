"""`siskin simulate` writes a night of alerts to a folder or a ZTF-style tarball."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import fastavro
import pytest

from siskin.cli.main import main


def test_simulate_to_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "alerts"
    assert main(["simulate", "--night", "20261121", "--alerts", "25", "--to", "dir", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    files = sorted(out.glob("*.avro"))
    assert report["written"] == 25 == len(files)
    record = next(iter(fastavro.reader(io.BytesIO(files[0].read_bytes()))))
    assert record["schemavsn"] == "4.02" and f"{record['candid']}.avro" in {f.name for f in files}


def test_simulate_to_a_nightly_tarball(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "simulate",
        "--night",
        "20261121",
        "--alerts",
        "10",
        "--to",
        "dir",
        "--out",
        str(tmp_path),
        "--tarball",
    ]
    assert main(args) == 0
    path = Path(json.loads(capsys.readouterr().out)["path"])
    assert path.name == "ztf_public_20261121.tar.gz"
    with tarfile.open(path) as tar:
        assert len([m for m in tar.getmembers() if m.name.endswith(".avro")]) == 10


def test_a_bad_rate_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    from siskin.errors import ConfigurationError
    from siskin.simulate.run import parse_rate

    assert parse_rate("250/s") == 250.0 and parse_rate("15000/min") == 250.0
    with pytest.raises(ConfigurationError, match="rate"):
        parse_rate("fast")
