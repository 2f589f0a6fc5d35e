"""Nightly data quality on a lake of real alerts: verdicts, night_status, offline report and Data Docs."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.errors import LakeError
from siskin.lake import catalog
from siskin.quality import run_night
from siskin.quality.offline import offline_html
from siskin.quality.run import QualityError, volume
from siskin.quality.suites import class_family, gold_checks, taxonomy

NIGHT = 20200101  # the night of the real alerts in conftest.REAL_FOLDER
# Anything a browser would fetch: src/href/action to http(s) or protocol-relative URLs, CSS url(http...).
NETWORK = re.compile(
    r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""", re.I
)


def _status(lake: Path) -> list[dict]:
    return DeltaTable(str(lake / "gold" / "night_status")).to_pyarrow_table().to_pylist()


def _rows(lake: Path, name: str) -> int:
    return DeltaTable(catalog.table(name).path(str(lake))).to_pyarrow_table(columns=["night"]).num_rows


def test_a_good_night_is_ok_with_an_offline_report_and_data_docs(quality_lake: Path) -> None:
    result = run_night(Settings(lake=quality_lake), NIGHT)
    suites = {o.suite for o in result.outcomes}
    assert suites == {"bronze.alerts", "silver.alerts", "gold.objects", "night"}
    assert result.status == "ok" and result.failures == [] and result.alerts == 50
    assert {(o.suite, o.column) for o in result.outcomes} >= {
        ("bronze.alerts", "payload_present"),
        ("bronze.alerts", "source_position"),
        ("silver.alerts", "candid"),
        ("silver.alerts", "jd"),
        ("silver.alerts", "fid"),
        ("silver.alerts", "quality_ok"),
        ("gold.objects", "survey,objectId"),
        ("gold.objects", "class_family"),
        ("night", "volume_ratio"),
    }
    [row] = [r for r in _status(quality_lake) if r["night"] == NIGHT]
    assert row["status"] == "ok" and row["failed"] == 0 and row["expectations"] == len(result.outcomes)

    report = Path(result.report).read_text()
    assert report.count("data:image/png;base64,") >= 5  # per hour, magnitudes, sky map, rejects, latency
    assert NETWORK.findall(report) == []
    docs = Path(result.data_docs).parent
    pages = list(docs.rglob("*.html")) + list(docs.rglob("*.css"))
    assert len([p for p in pages if "validations" in p.parts]) == 4
    offenders = {str(p): NETWORK.findall(p.read_text()) for p in pages if NETWORK.findall(p.read_text())}
    assert offenders == {}
    index = Path(result.data_docs).read_text()
    for suite in suites:
        assert suite in index
    for link in re.findall(r'href="([^"#]+)"', index):
        assert (docs / link).resolve().is_file(), link  # every link of the index resolves offline


def test_a_failing_expectation_marks_the_night_suspect_and_the_command_fails(
    quality_lake: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from siskin.cli.main import main

    silver_before, bronze_before = _rows(quality_lake, "silver.alerts"), _rows(quality_lake, "bronze.alerts")
    config = tmp_path / "siskin.toml"
    # the real alerts' magnitudes are 13-17: a range of 20-30 must fail, as must a volume ratio of 2-5
    config.write_text("[data_quality]\nmagpsf_range = [20.0, 30.0]\nvolume_ratio_range = [2.0, 5.0]\n")
    monkeypatch.setenv("SISKIN_CONFIG", str(config))
    assert main(["--lake", str(quality_lake), "quality", "--night", str(NIGHT)]) == 2
    err = capsys.readouterr().err
    assert "suspect" in err and "magpsf" in err and "volume_ratio" in err and len(err.splitlines()) == 1
    [row] = [r for r in _status(quality_lake) if r["night"] == NIGHT]
    assert row["status"] == "suspect" and row["failed"] == 2
    assert any("magpsf" in f and "50 of 50" in f for f in row["failures"])
    assert _rows(quality_lake, "silver.alerts") == silver_before == 50  # never deletes data
    assert _rows(quality_lake, "bronze.alerts") == bronze_before

    monkeypatch.delenv("SISKIN_CONFIG")
    with pytest.raises(QualityError) as failed:
        run_night(Settings(lake=quality_lake, data_quality={"fids": [1]}), NIGHT)  # these alerts are r (2)
    assert failed.value.result.status == "suspect"
    assert run_night(Settings(lake=quality_lake), NIGHT).status == "ok"
    rows = [r for r in _status(quality_lake) if r["night"] == NIGHT]
    assert [r["status"] for r in rows] == ["ok"]  # one row per night, replaced


def test_a_night_without_data_is_an_error_not_a_verdict(quality_lake: Path) -> None:
    with pytest.raises(LakeError, match="no data"):
        run_night(Settings(lake=quality_lake), 20200105)
    table = quality_lake / "gold" / "night_status"
    assert not table.exists() or all(r["night"] != 20200105 for r in _status(quality_lake))


def test_volume_ratio_is_tonight_over_the_trailing_median() -> None:
    counts = {20200101: 100, 20200102: 300, 20200103: 120, 20200104: 80, 20200105: 10}
    assert volume(counts, 20200105, trailing=3) == (10 / 120, 120.0)
    assert volume(counts, 20200105, trailing=7) == (10 / 110, 110.0)
    assert volume(counts, 20200101, trailing=7) == (1.0, None)  # no history


def test_class_check_only_when_the_column_exists(tmp_path: Path) -> None:
    names = tmp_path / "types.csv"
    names.write_text("SN candidate\nKilonova candidate\n")
    settings = Settings(lake=tmp_path, data_quality={"taxonomy": str(names)})
    gold = catalog.table("gold.objects")
    assert taxonomy(settings) == ["SN candidate", "Kilonova candidate"]
    without = gold_checks(gold, settings, ["survey", "objectId"])
    with_class = gold_checks(gold, settings, ["survey", "objectId", "last_class"])
    assert [c.kind for c in without] == ["ExpectCompoundColumnsToBeUnique"]
    assert with_class[-1].kwargs["column"] == "class_family"
    assert set(with_class[-1].kwargs["value_set"]) == {
        "SN candidate",
        "Kilonova candidate",
        "Unknown",
        "SIMBAD label",
        "catalog label",
    }
    classes = pa.array(["SN candidate", "(VSX) EW", "RRLyr", "Unknown", None, "Made-up class", "Galaxy"])
    assert class_family(classes, settings).to_pylist() == [
        "SN candidate",
        "catalog label",
        "SIMBAD label",
        "Unknown",
        None,
        "Made-up class",
        "SIMBAD label",
    ]


def test_offline_html_removes_every_network_reference() -> None:
    page = (
        '<html><head><link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/b.css"/>'
        '<script src="https://code.jquery.com/jquery.js"></script><script>$(x).bootstrapTable()</script>'
        '<style>.a{background:url("https://x/y.png")}</style></head><body>'
        '<img src="//cdn.example/logo.png"><a href="https://greatexpectations.io">GX</a>'
        '<form action="https://x/newsletter"></form><a href="validations/a.html">ok</a></body></html>'
    )
    assert len(NETWORK.findall(page)) == 6
    out = offline_html(page)
    assert NETWORK.findall(out) == []
    assert 'href="validations/a.html"' in out and "<style>" in out and "GX</a>" in out


def test_committed_suites_match_the_code(shared_data: Path) -> None:
    import json

    from siskin.quality.suites import suite_documents

    committed = json.loads((Path(__file__).resolve().parents[2] / "expectations" / "suites.json").read_text())
    assert committed == json.loads(json.dumps(suite_documents(Settings(lake="lake"))))
    assert {"bronze.alerts", "silver.alerts", "gold.objects", "night"} <= set(committed["suites"])


def test_reports_publish_to_an_object_store_lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("moto")
    from siskin.dev.object_store import LocalS3
    from siskin.exports.store import list_files, read_file
    from siskin.quality.run import _publish

    built = tmp_path / "report"
    (built / "data_docs" / "validations").mkdir(parents=True)
    (built / "report.html").write_text("<html>night</html>")
    (built / "data_docs" / "index.html").write_text("<html>docs</html>")
    with LocalS3(tmp_path / "s3", buckets=("lake",)) as s3:
        for key, value in s3.env.items():
            monkeypatch.setenv(key, value)
        _publish(built, "s3://lake/prod/_reports/20200101")
        assert list_files("s3://lake/prod/_reports/20200101") == ["data_docs/index.html", "report.html"]
        assert read_file("s3://lake/prod/_reports/20200101/report.html") == b"<html>night</html>"
        (built / "data_docs" / "index.html").unlink()
        (built / "data_docs" / "new.html").write_text("<html>new</html>")
        _publish(built, "s3://lake/prod/_reports/20200101")
        assert list_files("s3://lake/prod/_reports/20200101") == ["data_docs/new.html", "report.html"]


def test_the_report_and_data_docs_render_in_chromium(quality_lake: Path) -> None:
    """As a person opens them from disk: styled, with content, no missing image or stylesheet."""
    import shutil

    from siskin.orchestration.ui_screens import screenshot_reports

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no Chromium (apt-get install -y chromium): the pages were not screenshotted")
    settings = Settings(lake=quality_lake)
    run_night(settings, NIGHT)
    checks = screenshot_reports(settings, NIGHT, quality_lake / "_reports" / "screenshots")
    assert [c.png.name for c in checks] == [f"{NIGHT}-report.png", f"{NIGHT}-data-docs.png"]
    for check in checks:
        assert check.failed == [], check.failed
        assert check.text_chars > 100 and check.stylesheets > 0, check
        assert check.rendered and check.png.stat().st_size > 10_000, check
