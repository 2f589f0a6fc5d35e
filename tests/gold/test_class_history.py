"""Gold carries each object's latest class and the history of its changes (class, rules' version, time)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable

from siskin.gold.classes import class_changes, class_history_schema
from siskin.gold.inputs import GOLD_INPUT_SCHEMA
from siskin.gold.merge import fold_alerts, merge_folded
from siskin.gold.objects import aggregate_alerts


def _alerts(rows: list[tuple[str, int, float, str | None, str | None]]) -> pd.DataFrame:
    """(objectId, candid, jd, class, class_version) -> alerts in the gold input shape."""
    frame = pd.DataFrame(
        {
            "survey": "ztf",
            "objectId": [r[0] for r in rows],
            "candid": [r[1] for r in rows],
            "jd": [r[2] for r in rows],
            "band": "g",
            "mag": 18.0,
            "magerr": 0.05,
            "ra": 150.0,
            "dec": 2.0,
            "rb": 0.9,
            "quality_ok": True,
            "night": 20260101,
            "class": [r[3] for r in rows],
            "class_version": [r[4] for r in rows],
        }
    )
    return pa.Table.from_pandas(frame, schema=GOLD_INPUT_SCHEMA, preserve_index=False).to_pandas()


def test_only_changes_are_recorded_in_time_order_with_the_class_they_replace() -> None:
    alerts = _alerts(
        [
            ("A", 3, 3.0, "SN candidate", "1"),  # out of order on purpose
            ("A", 1, 1.0, "Unknown", "1"),
            ("A", 2, 2.0, "Unknown", "1"),  # no change: no row
            ("B", 5, 1.0, "Solar System MPC", "1"),
            ("C", 6, 1.0, None, None),  # not classified: no row
        ]
    )
    before = pd.DataFrame(
        {
            "survey": ["ztf"],
            "objectId": ["B"],
            "last_class": ["Solar System MPC"],
            "last_class_version": ["0"],
        }
    )
    changes = class_changes(alerts, before).to_pandas()
    assert changes.columns.tolist() == class_history_schema().names
    got = list(
        changes[["objectId", "candid", "class", "previous_class", "previous_class_version"]].itertuples(
            index=False, name=None
        )
    )
    assert got == [
        ("A", 1, "Unknown", None, None),
        ("A", 3, "SN candidate", "Unknown", "1"),
        ("B", 5, "Solar System MPC", "Solar System MPC", "0"),  # same class, new rules' version
    ]
    assert set(changes["source"]) == {"stream"}


def test_no_change_against_the_current_class_gives_no_row() -> None:
    alerts = _alerts([("A", 1, 1.0, "Unknown", "1")])
    before = pd.DataFrame(
        {"survey": ["ztf"], "objectId": ["A"], "last_class": ["Unknown"], "last_class_version": ["1"]}
    )
    assert class_changes(alerts, before).num_rows == 0
    assert class_changes(alerts.drop(columns=["class"]), before).num_rows == 0


def test_gold_objects_carry_the_latest_class_version_and_time(tmp_path: Path) -> None:
    uri = str(tmp_path / "objects")
    first = _alerts(
        [("A", 1, 1.0, "Unknown", "1"), ("A", 2, 2.0, "SN candidate", "1"), ("B", 3, 1.5, None, None)]
    )
    merged, cells, before = fold_alerts(uri, first, 32)
    assert before.empty
    assert merge_folded(uri, merged, cells, app_id="t", version=0)
    # a later alert without a class keeps the object's last class
    second = _alerts([("A", 4, 3.0, None, None), ("B", 5, 2.0, "Ambiguous", "2")])
    merged, cells, before = fold_alerts(uri, second, 32)
    assert dict(zip(before["objectId"], before["last_class"], strict=True)) == {
        "A": "SN candidate",
        "B": None,
    }
    assert merge_folded(uri, merged, cells, app_id="t", version=1)
    assert not merge_folded(uri, merged, cells, app_id="t", version=1)  # a replayed batch is a no-op
    gold = DeltaTable(uri).to_pandas().set_index("objectId")
    assert gold.loc["A", "last_class"] == "SN candidate" and gold.loc["A", "last_class_jd"] == 2.0
    assert gold.loc["A", "last_candid"] == 4
    assert gold.loc["B", "last_class"] == "Ambiguous" and gold.loc["B", "last_class_version"] == "2"


def test_partials_without_class_columns_still_fold() -> None:
    alerts = _alerts([("A", 1, 1.0, None, None)]).drop(columns=["class", "class_version"])
    rows = aggregate_alerts(alerts, 32)
    assert rows["last_class"].isna().all() and len(rows) == 1
