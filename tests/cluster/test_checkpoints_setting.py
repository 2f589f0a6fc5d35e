"""The `checkpoints` setting: where streaming checkpoints live when the lake is on an object store."""

from __future__ import annotations

from pathlib import Path

import pytest

from siskin.config import Settings
from siskin.lake.catalog import checkpoint_path
from siskin.lake.checkpoints import describe_source
from siskin.query.status import bronze_lags


def test_checkpoints_default_to_the_lake_and_follow_a_lake_override(tmp_path: Path) -> None:
    assert Settings(lake="s3://lake/siskin/").checkpoints_uri == "s3://lake/siskin/_checkpoints"
    local = Settings(lake=tmp_path / "lake")
    assert local.checkpoints_uri == str((tmp_path / "lake" / "_checkpoints").resolve())
    assert local.with_overrides(lake="s3://other").checkpoints_uri == "s3://other/_checkpoints"


def test_checkpoints_setting_from_the_environment_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SISKIN_LAKE", "s3://lake/siskin")
    monkeypatch.setenv("SISKIN_CHECKPOINTS", "shared/checkpoints")
    settings = Settings()
    assert settings.lake_uri == "s3://lake/siskin"
    assert settings.checkpoints_uri == str(tmp_path.resolve() / "shared" / "checkpoints")
    assert checkpoint_path(settings.checkpoints_uri, "silver") == f"{settings.checkpoints_uri}/silver"


def test_status_reads_the_bronze_queries_under_the_checkpoints_root(tmp_path: Path) -> None:
    settings = Settings(lake=tmp_path / "lake", checkpoints=tmp_path / "ckpt")
    query = "bronze_files_0123456789"
    describe_source(checkpoint_path(settings.checkpoints_uri, query), {"files": ["a.avro"]})
    (tmp_path / "ckpt" / query / "siskin_manifest.jsonl").write_text('{"path": "a.avro"}\n')
    assert bronze_lags(settings) == [f"{query}: 1 files"]
    assert not (tmp_path / "lake").exists()  # nothing was looked for, or written, under the lake
