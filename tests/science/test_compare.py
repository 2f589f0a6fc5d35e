"""`siskin compare fink`: agreement with a peer broker's values on real alerts, and how it is reported."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from siskin.cli.main import main
from siskin.science.base import Output, ScienceModule
from siskin.science.compare import compare, peer_files
from siskin.science.registry import build
from siskin.science.tables import ZTF_ALERTS

ZTF_WITH_ROID = ("ztf/fink_processed", "ztf/alerts/fink-client-multi-2021-11-22")
RUBIN_WITH_ROID = (
    "lsst/fink-broker/rubin_test_data_7_4_avro",
    "lsst/fink-client",
    "lsst/fink-filters",
)


def rows_carrying(files: list[Path], column: str) -> int:
    """How many alerts in `files` carry `column` (read independently of Siskin: pyarrow / fastavro)."""
    total = 0
    for f in files:
        if f.suffix == ".parquet":
            if column in pq.read_schema(f).names:
                total += pq.read_metadata(f).num_rows
        else:
            with f.open("rb") as handle:
                total += sum(1 for r in fastavro.reader(handle) if column in r)  # type: ignore[operator]
    return total


def test_ztf_agreement_nalerthist_exact_and_roid_at_least_99_percent(shared_data: Path) -> None:
    files = [f for sub in ZTF_WITH_ROID for f in peer_files(shared_data / sub)]
    result = compare(files, build(["roid", "nalerthist"], survey="ztf"))
    expected = rows_carrying(files, "roid")
    nalerthist, roid = result.columns[("ztf", "nalerthist")], result.columns[("ztf", "roid")]
    assert expected > 250 and nalerthist.compared == expected and roid.compared == expected
    assert nalerthist.rate == 1.0, nalerthist.disagreements[:10]
    assert roid.rate >= 0.99, roid.disagreements[:10]
    assert not result.not_decoded
    assert {"vsx", "gcvs", "cdsxmatch"} <= set(result.not_produced)


def test_rubin_roid_agrees_with_the_peer_roid_and_its_pred_flags(shared_data: Path) -> None:
    files = [f for sub in RUBIN_WITH_ROID for f in peer_files(shared_data / sub)]
    result = compare(files, build(["rubin_roid"], survey="rubin"))
    report = result.columns[("rubin", "roid")]
    expected = rows_carrying(files, "roid") + rows_carrying(files, "pred")
    assert report.compared == expected > 50
    assert report.rate >= 0.99, report.disagreements


def altered_copy(shared_data: Path, tmp_path: Path) -> tuple[Path, list[int], int]:
    """A real peer file whose roid is changed on 2 alerts: the disagreements the report must list."""
    source = shared_data / "ztf/fink_processed/fink-science/datatest"
    table = pq.read_table(sorted(source.glob("*.parquet"))[0])
    roid = np.asarray(table["roid"]).copy()
    changed = [1, 4]
    roid[changed] = 2
    index = table.schema.get_field_index("roid")
    table = table.set_column(index, "roid", pa.array(roid, table.schema.field("roid").type))
    path = tmp_path / "altered.parquet"
    pq.write_table(table, path)
    return path, [table["candid"][i].as_py() for i in changed], table.num_rows


def test_disagreements_are_listed_with_keys_ours_and_theirs(shared_data: Path, tmp_path: Path) -> None:
    path, candids, n = altered_copy(shared_data, tmp_path)
    report = compare([path], build(["roid"], survey="ztf")).columns[("ztf", "roid")]
    assert report.compared == n and report.agreed == n - 2
    assert sorted(d[1] for d in report.disagreements) == sorted(candids)
    assert all(d[3] == 2 and d[2] != 2 and str(d[0]).startswith("ZTF") for d in report.disagreements)


def test_cli_prints_rates_and_fails_under_min_rate(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, candids, n = altered_copy(shared_data, tmp_path)
    assert main(["compare", "fink", str(path), "--column", "roid", "--min-rate", "0.99"]) == 1
    text = capsys.readouterr().out
    assert re.search(rf"ztf\s+roid\s+{n}\s+{n - 2}\s+{(n - 2) / n:.2%}", text), text
    assert all(str(c) in text for c in candids)
    assert "agreement under 99.00%: ztf.roid" in text
    assert main(["compare", "fink", str(path), "--column", "nalerthist", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(c["column"], c["compared"], c["agreed"]) for c in report["columns"]] == [("nalerthist", n, n)]


def test_cli_errors_when_nothing_is_comparable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pq.write_table(pa.table({"objectId": ["ZTF1"], "candid": [1]}), tmp_path / "plain.parquet")
    assert main(["compare", "fink", str(tmp_path)]) == 2
    assert "carries a column Siskin produces" in capsys.readouterr().err


def test_a_new_column_plugs_in_by_name(shared_data: Path) -> None:
    class VsxStub(ScienceModule):
        """Stands in for the cross-match module: labels nothing; compared by the `vsx` comparator."""

        name = "vsx_stub"
        version = "0"
        survey = "ztf"
        table = ZTF_ALERTS
        inputs = ("ra", "dec")
        outputs = (Output("vsx", pa.string(), "VSX variable type"),)

        def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
            return {"vsx": pa.nulls(batch.num_rows, pa.string())}

    path = shared_data / "ztf/fink_processed/fink-filters/few_SLSN_alerts.parquet"
    report = compare([path], [VsxStub()]).columns[("ztf", "vsx")]
    theirs = pq.read_table(path, columns=["vsx"])["vsx"].to_pylist()
    unlabelled = sum(1 for v in theirs if v in (None, "", "Unknown", "nan"))  # "nan": the peer's no-match
    assert report.compared == len(theirs) and report.agreed == unlabelled


def test_alerts_siskin_rejects_are_reported_not_compared(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "ztf/fink_processed/fink-science/datatest"
    table = pq.read_table(sorted(source.glob("*.parquet"))[0])
    ids = table["objectId"].to_pylist()
    ids[3] = None  # silver rejects an alert without objectId (missing_field)
    table = table.set_column(table.schema.get_field_index("objectId"), "objectId", pa.array(ids, pa.string()))
    pq.write_table(table, tmp_path / "one_bad.parquet")
    result = compare([tmp_path / "one_bad.parquet"], build(survey="ztf"))
    assert result.columns[("ztf", "roid")].compared == table.num_rows - 1
    assert [(code, n) for _, code, _, n in result.not_decoded] == [("missing_field", 1)]


def test_comparators_by_kind() -> None:
    from siskin.science.compare import PEER_COLUMNS, exact

    ours = pa.array([3, 0, None, 1], pa.int32())
    assert exact(ours, pa.array([3, 1, None, None], pa.int64())).tolist() == [True, False, True, False]
    labels = PEER_COLUMNS["vsx"](
        pa.array(["RRAB", None, "EA", ""]), pa.array([" RRAB", "Unknown", "EW", None])
    )
    assert labels.tolist() == [True, True, False, True]
    scores = PEER_COLUMNS["rf_snia_vs_nonia"](
        pa.array([0.5, float("nan"), 0.1]), pa.array([0.5004, float("nan"), 0.2], pa.float32())
    )
    assert scores.tolist() == [True, True, False]
