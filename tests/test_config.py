"""One typed settings object: defaults, TOML file, environment, arguments, in that order of strength."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from siskin.config import Settings


def test_defaults_are_the_embedded_single_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.lake_uri == str(tmp_path / "lake")
    assert s.spark.master == "local[*]" and s.kafka.embedded and s.delta.engine == "delta-rs"
    assert (s.quality.rb_min, s.quality.nbad_max, s.quality.excluded_fids) == (0.55, 0, [3])


def test_toml_then_env_then_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "siskin.toml"
    cfg.write_text(
        'lake = "/data/from-toml"\n[kafka]\nbootstrap = "toml:9092"\ntopics = ["a", "b"]\n'
        "[quality]\nrb_min = 0.7\n"
    )
    monkeypatch.setenv("SISKIN_CONFIG", str(cfg))
    s = Settings()
    assert s.lake_uri == "/data/from-toml" and s.kafka.topics == ["a", "b"] and s.quality.rb_min == 0.7
    monkeypatch.setenv("SISKIN_KAFKA__BOOTSTRAP", "env:9092")
    monkeypatch.setenv("SISKIN_LAKE", "s3://lake/siskin")
    s = Settings()
    assert s.kafka.bootstrap == "env:9092" and s.lake_uri == "s3://lake/siskin"
    assert Settings(lake="/explicit").lake_uri == "/explicit"


def test_unknown_keys_are_errors_not_silently_ignored(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cfg = tmp_path / "siskin.toml"
    cfg.write_text("[kafka]\nbootstrapp = 'typo:9092'\n")
    monkeypatch.setenv("SISKIN_CONFIG", str(cfg))
    with pytest.raises(ValidationError, match="bootstrapp"):
        Settings()
