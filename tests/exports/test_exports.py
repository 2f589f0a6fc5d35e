"""Collaborator exports on a lake of real alerts: contents, manifests, atomic reruns, S3, hostile specs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.errors import ConfigurationError, LakeError
from siskin.exports import run_export, verify_export
from siskin.exports import store as export_store

NIGHT = 20200101  # the night of the real alerts in conftest.REAL_FOLDER

BRIGHT = [{"column": "magpsf", "op": "<", "value": 16.0}, {"column": "fid", "op": "in", "value": [1, 2]}]
COLUMNS = ["objectId", "candid", "jd", "fid", "ra", "dec", "magpsf", "sigmapsf"]


def _settings(lake: Path, root: str, spec: dict[str, Any], **exports: Any) -> Settings:
    return Settings(lake=lake, exports={"roots": {"default": root}, "specs": {"s": spec}, **exports})


def _spec(**values: Any) -> dict[str, Any]:
    return {"who": "test collaboration", "table": "silver.alerts", "columns": COLUMNS, **values}


def _oracle(lake: Path) -> Any:
    """The expected rows, computed independently with pandas from the whole silver table."""
    df = DeltaTable(str(lake / "silver" / "alerts")).to_pandas()
    df = df[(df["night"] == NIGHT) & (df["magpsf"] < 16.0) & (df["fid"].isin([1, 2]))]
    return df


@pytest.mark.parametrize(
    "hostile",
    [
        "../escape",
        "a/../../escape",
        "/etc",
        "/tmp/escape",
        "file:///tmp/escape",
        "s3://other/x",
        "~/x",
        "_tmp",
        "a\\..\\..\\b",
        ".hidden",
        "a/./b",
        "..",
        "",
    ],
)
def test_hostile_spec_paths_are_refused_before_anything_is_written(
    real_lake: Path, tmp_path: Path, hostile: str
) -> None:
    root = tmp_path / "root" / "exports"
    root.mkdir(parents=True)
    settings = _settings(real_lake, str(root), _spec(path=hostile))
    with pytest.raises(ConfigurationError):
        run_export(settings, "s", NIGHT)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["exports", "root"]


def test_hostile_spec_name_and_unknown_root_are_refused(real_lake: Path, tmp_path: Path) -> None:
    settings = Settings(
        lake=real_lake,
        exports={
            "roots": {"default": str(tmp_path / "r")},
            "specs": {"../up": _spec(), "x": _spec(root="nope")},
        },
    )
    with pytest.raises(ConfigurationError, match="spec name"):
        run_export(settings, "../up", NIGHT)
    with pytest.raises(ConfigurationError, match="unknown root"):
        run_export(settings, "x", NIGHT)
    assert not (tmp_path / "r").exists() and not (tmp_path / "up").exists()


def test_a_link_below_the_root_cannot_lead_outside(real_lake: Path, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    settings = _settings(real_lake, str(root), _spec(path="link/data"))
    with pytest.raises(ConfigurationError, match="outside"):
        run_export(settings, "s", NIGHT)
    assert list(outside.iterdir()) == []


def test_parquet_export_rows_match_an_independent_filter_and_manifest_checksums(
    real_lake: Path, tmp_path: Path
) -> None:
    settings = _settings(real_lake, f"file://{tmp_path}/x", _spec(where=BRIGHT), max_rows_per_file=10)
    manifest = run_export(settings, "s", NIGHT)
    expected = _oracle(real_lake)
    night_dir = tmp_path / "x" / "s" / f"night={NIGHT}"
    assert 0 < len(expected) < 50  # the filter really selects
    assert manifest.rows == len(expected)
    assert len(manifest.files) == -(-len(expected) // 10)
    read = pa.concat_tables([pq.read_table(f, partitioning=None) for f in sorted(night_dir.glob("part-*"))])
    assert sorted(read.column("candid").to_pylist()) == sorted(expected["candid"].tolist())
    assert read.column_names == COLUMNS
    assert [f["name"] for f in manifest.schema] == COLUMNS
    assert manifest.siskin_version and manifest.who == "test collaboration"
    assert verify_export(f"file://{night_dir}") == manifest
    victim = night_dir / manifest.files[0].path
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(LakeError, match="checksum"):
        verify_export(f"file://{night_dir}")


def test_csv_and_votable_exports_read_back(real_lake: Path, tmp_path: Path) -> None:
    from astropy.table import Table

    expected = sorted(_oracle(real_lake)["candid"].tolist())
    for fmt, ext in (("csv", "csv"), ("votable", "vot")):
        cols = [*COLUMNS, "prv_candidates", "processed_at", "quality_reason", "topic"]  # topic: all null
        settings = _settings(real_lake, str(tmp_path / fmt), _spec(where=BRIGHT, format=fmt, columns=cols))
        manifest = run_export(settings, "s", NIGHT)
        path = tmp_path / fmt / "s" / f"night={NIGHT}" / f"part-00000.{ext}"
        table = Table.read(path, format="ascii.csv" if fmt == "csv" else "votable")
        assert sorted(int(c) for c in table["candid"]) == expected, fmt
        assert manifest.rows == len(table) == len(expected)
        assert str(table["prv_candidates"][0]).startswith("[")  # nested history as JSON text


def test_rerun_replaces_the_night_atomically_while_a_reader_polls(real_lake: Path, tmp_path: Path) -> None:
    root = str(tmp_path / "exp")
    many = _settings(real_lake, root, _spec(), max_rows_per_file=7)  # 50 rows: 8 files
    few = _settings(real_lake, root, _spec(where=BRIGHT))  # one file
    night_dir = f"file://{tmp_path}/exp/s/night={NIGHT}"
    seen: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(verify_export(night_dir).rows)
            except (LakeError, FileNotFoundError) as exc:
                errors.append(str(exc))

    first = run_export(many, "s", NIGHT)
    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(6):
            last = run_export(few if i % 2 == 0 else many, "s", NIGHT)
    finally:
        stop.set()
        thread.join()
    assert first.rows == 50 and len(first.files) == 8
    assert last.rows == 50  # the last run was `many`
    assert set(seen) <= {50, len(_oracle(real_lake))} and len(seen) > 0
    assert errors == []  # never a partial, mixed or missing night (renameat2 exchange + re-read)
    final = run_export(few, "s", NIGHT)
    names = sorted(p.name for p in (tmp_path / "exp" / "s" / f"night={NIGHT}").iterdir())
    assert names == ["_manifest.json", "part-00000.parquet"] and final.rows < 50
    assert not (tmp_path / "exp" / "s" / "_tmp").exists()


def test_a_failed_rerun_leaves_the_previous_export_whole(
    real_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _settings(real_lake, str(tmp_path), _spec(), max_rows_per_file=10)
    before = run_export(settings, "s", NIGHT)
    calls = {"n": 0}
    real_write = export_store.write_file

    def failing_write(uri: str, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        real_write(uri, data)

    monkeypatch.setattr(export_store, "write_file", failing_write)
    with pytest.raises(OSError, match="disk full"):
        run_export(_settings(real_lake, str(tmp_path), _spec(where=BRIGHT), max_rows_per_file=5), "s", NIGHT)
    assert verify_export(f"file://{tmp_path}/s/night={NIGHT}") == before
    assert not (tmp_path / "s" / "_tmp").exists() or not any((tmp_path / "s" / "_tmp").iterdir())


def test_s3_export_against_moto_server(
    real_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("moto")
    from siskin.dev.object_store import LocalS3

    with LocalS3(tmp_path / "s3", buckets=("collab",)) as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        many = _settings(real_lake, "s3://collab/siskin", _spec(), max_rows_per_file=20)
        few = _settings(real_lake, "s3://collab/siskin", _spec(where=BRIGHT, format="csv"))
        uri = f"s3://collab/siskin/s/night={NIGHT}"
        first = run_export(many, "s", NIGHT)
        assert verify_export(uri) == first and len(first.files) == 3
        second = run_export(few, "s", NIGHT)
        assert verify_export(uri) == second
        assert export_store.list_files(uri) == ["_manifest.json", "part-00000.csv"]  # stale parts removed
        assert export_store.list_files("s3://collab/siskin/s/_tmp") == []
        data = export_store.read_file(f"{uri}/part-00000.csv")
        assert data.count(b"\n") == second.rows + 1  # header + rows


def test_cli_export_exit_status(real_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from siskin.cli.main import main

    config = tmp_path / "siskin.toml"
    config.write_text(
        f'[exports.roots]\ndefault = "{tmp_path}/out"\n'
        '[exports.specs.ok]\nwho = "w"\ncolumns = ["candid", "magpsf"]\n'
        '[exports.specs.evil]\nwho = "w"\npath = "../../etc"\n'
    )
    monkeypatch.setenv("SISKIN_CONFIG", str(config))
    assert main(["--lake", str(real_lake), "export", "--spec", "ok", "--night", str(NIGHT)]) == 0
    assert verify_export(f"file://{tmp_path}/out/ok/night={NIGHT}").rows == 50
    assert main(["--lake", str(real_lake), "export", "--spec", "evil", "--night", str(NIGHT)]) == 2
    assert main(["--lake", str(real_lake), "export", "--spec", "missing", "--night", str(NIGHT)]) == 2
    assert main(["--lake", str(real_lake), "export", "--all", "--night", str(NIGHT)]) == 2  # evil fails
    assert main(["--lake", str(real_lake), "export", "--spec", "ok", "--night", "2020011"]) == 2
    assert not (tmp_path / "etc").exists()


def test_night_without_rows_exports_an_empty_file_with_the_schema(real_lake: Path, tmp_path: Path) -> None:
    settings = _settings(real_lake, str(tmp_path), _spec())
    manifest = run_export(settings, "s", 20200102)
    table = pq.read_table(tmp_path / "s" / "night=20200102" / "part-00000.parquet", partitioning=None)
    assert manifest.rows == 0 and table.num_rows == 0 and table.column_names == COLUMNS
    assert pc.sum(pc.equal(table.column("fid"), 1)).as_py() is None


def test_gold_objects_export_by_last_night_and_bronze_is_refused(real_lake: Path, tmp_path: Path) -> None:
    spec = {"who": "w", "table": "gold.objects", "night_column": "last_night", "columns": ["objectId", "ra"]}
    manifest = run_export(_settings(real_lake, str(tmp_path), spec), "s", NIGHT)
    objects = DeltaTable(str(real_lake / "gold" / "objects")).to_pandas()
    assert manifest.rows == int((objects["last_night"] == NIGHT).sum()) > 0
    with pytest.raises(ConfigurationError, match="night_column"):
        run_export(_settings(real_lake, str(tmp_path), {**spec, "night_column": "night"}), "s", NIGHT)
    with pytest.raises(ConfigurationError, match="only silver and gold"):
        run_export(_settings(real_lake, str(tmp_path), {"who": "w", "table": "bronze.alerts"}), "s", NIGHT)
    with pytest.raises(ConfigurationError, match="does not fit"):
        bad = _spec(where=[{"column": "fid", "op": "==", "value": "red"}])
        run_export(_settings(real_lake, str(tmp_path), bad), "s", NIGHT)
    with pytest.raises(ConfigurationError, match="unknown column"):
        bad = _spec(where=[{"column": "nope", "op": "==", "value": 1}])
        run_export(_settings(real_lake, str(tmp_path), bad), "s", NIGHT)


def test_without_an_atomic_exchange_the_swap_still_publishes_whole_nights(
    real_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_store, "_exchange", lambda a, b: False)  # a filesystem without renameat2
    first = run_export(_settings(real_lake, str(tmp_path), _spec(), max_rows_per_file=7), "s", NIGHT)
    second = run_export(_settings(real_lake, str(tmp_path), _spec(where=BRIGHT)), "s", NIGHT)
    assert len(first.files) == 8 and verify_export(f"file://{tmp_path}/s/night={NIGHT}") == second
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == [f"night={NIGHT}"]  # no _tmp, no .old left
