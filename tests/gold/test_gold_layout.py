"""gold.objects by sky cell: a batch rewrites only the cells its alerts fall in, and folds exactly."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from siskin.gold.cells import cell_bounds, cell_of, cells_near
from siskin.gold.inputs import GOLD_INPUT_SCHEMA
from siskin.gold.merge import upsert_alerts
from siskin.gold.objects import aggregate_alerts

FIELD_A = (150.0, -30.0)
FIELD_B = (30.0, 10.0)


def _objects(prefix: str, centre: tuple[float, float], n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    r = 1.5 * np.sqrt(rng.uniform(0, 1, n))
    theta = rng.uniform(0, 2 * np.pi, n)
    dec = centre[1] + r * np.sin(theta)
    ra = centre[0] + r * np.cos(theta) / np.cos(np.radians(centre[1]))
    return pd.DataFrame({"objectId": [f"{prefix}{i:05d}" for i in range(n)], "ra": ra, "dec": dec})


def _alerts(objects: pd.DataFrame, batch: int, seed: int, jitter_arcsec: float = 0.1) -> pd.DataFrame:
    """One alert per object, in the gold input shape."""
    rng = np.random.default_rng(seed)
    n = len(objects)
    frame = pd.DataFrame(
        {
            "survey": "ztf",
            "objectId": objects["objectId"].to_numpy(),
            "candid": np.arange(n, dtype=np.int64) + batch * 100_000,
            "jd": 2461000.5 + batch + rng.uniform(0, 0.3, n),
            "band": rng.choice(["g", "r", "i"], n),
            "mag": rng.uniform(17, 21, n),
            "magerr": rng.uniform(0.01, 0.1, n),
            "ra": objects["ra"].to_numpy() + rng.normal(0, jitter_arcsec / 3600, n),
            "dec": objects["dec"].to_numpy() + rng.normal(0, jitter_arcsec / 3600, n),
            "rb": rng.uniform(0, 1, n),
            "quality_ok": rng.uniform(0, 1, n) < 0.7,
            "night": np.int32(20260101 + batch),
        }
    )
    return pa.Table.from_pandas(
        frame.reindex(columns=GOLD_INPUT_SCHEMA.names), schema=GOLD_INPUT_SCHEMA, preserve_index=False
    ).to_pandas()


def _files(uri: str) -> dict[str, str]:
    actions = pa.table(DeltaTable(uri).get_add_actions(flatten=True)).to_pylist()
    return {a["path"]: str(a["partition.bucket"]) for a in actions}


def _upsert(uri: str, alerts: pd.DataFrame, version: int, app: str = "gold-test") -> int:
    return upsert_alerts(uri, alerts, buckets=32, app_id=app, version=version)


@pytest.fixture
def gold_uri(tmp_path: Path) -> str:
    return str(tmp_path / "lake" / "gold" / "objects")


def _check_against_refold(uri: str, all_alerts: list[pd.DataFrame]) -> pd.DataFrame:
    gold = DeltaTable(uri).to_pandas()
    assert not gold.duplicated(["survey", "objectId"]).any()
    expected = aggregate_alerts(pd.concat(all_alerts, ignore_index=True), 32).set_index(
        ["survey", "objectId"]
    )
    got = gold.set_index(["survey", "objectId"]).loc[expected.index]
    assert len(gold) == len(expected)
    for col in ("n_alerts", "n_good", "first_jd", "last_jd", "last_candid", "first_night", "last_night"):
        assert (got[col].to_numpy() == expected[col].to_numpy()).all(), col
    np.testing.assert_allclose(got["dec"], expected["dec"], atol=1e-9, equal_nan=True)
    return gold


def test_a_batch_rewrites_only_files_in_the_cells_near_its_alerts(gold_uri: str) -> None:
    a, b = _objects("A", FIELD_A, 300, 1), _objects("B", FIELD_B, 300, 2)
    sent = [_alerts(a, 0, 10), _alerts(b, 1, 11)]
    _upsert(gold_uri, sent[0], 0)
    _upsert(gold_uri, sent[1], 1)
    before = _files(gold_uri)
    b_cells = {str(c) for c in cell_of(b["ra"], b["dec"])}
    a_cells = {str(c) for c in cells_near(a["ra"], a["dec"])}
    assert b_cells.isdisjoint(a_cells)

    again = pd.concat([a, _objects("Anew", FIELD_A, 50, 3)], ignore_index=True)
    sent.append(_alerts(again, 2, 12))
    assert _upsert(gold_uri, sent[2], 2) == 350
    after = _files(gold_uri)
    removed = {p for p in before if p not in after}
    added = {p for p in after if p not in before}
    assert removed and added
    assert {before[p] for p in removed} <= a_cells and {after[p] for p in added} <= a_cells
    assert {p for p, c in before.items() if c in b_cells} <= set(after)  # field B's files untouched

    gold = _check_against_refold(gold_uri, sent)
    assert (gold.loc[gold["objectId"].str.startswith("A"), "n_alerts"] >= 1).all()
    assert gold.loc[gold["objectId"].str.startswith("A0"), "n_alerts"].eq(2).all()
    version = DeltaTable(gold_uri).version()
    assert _upsert(gold_uri, sent[2], 2) == 0  # Spark replays the batch: no commit, nothing changes
    assert DeltaTable(gold_uri).version() == version


def test_an_object_whose_alerts_straddle_a_cell_edge_keeps_one_row(gold_uri: str) -> None:
    edge_dec = cell_bounds(int(cell_of(150.0, -30.0)))[2]  # the southern edge of a cell
    objects = pd.DataFrame(
        {"objectId": [f"E{i}" for i in range(40)], "ra": np.linspace(149.0, 151.0, 40), "dec": edge_dec}
    )
    sent = []
    for batch, side in enumerate([+1, -1, +1, -1]):
        moved = objects.assign(dec=edge_dec + side * 2.0 / 3600)  # 2" either side of the edge
        sent.append(_alerts(moved, batch, 20 + batch, jitter_arcsec=0.0))
        _upsert(gold_uri, sent[-1], batch)
    gold = _check_against_refold(gold_uri, sent)
    assert gold["n_alerts"].eq(4).all()
    first_cells = cell_of(sent[0]["ra"], sent[0]["dec"])
    assert (gold.set_index("objectId").loc[sent[0]["objectId"], "bucket"].to_numpy() == first_cells).all()


def test_a_merge_that_meets_a_concurrent_compaction_is_run_again(
    gold_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """delta-rs refuses the MERGE (its files were compacted meanwhile); the retry merges on the new one."""
    import siskin.lake.transactions as tx

    objects = _objects("C", FIELD_A, 200, 5)
    sent = []
    for batch in range(3):  # three commits of other objects: each cell holds several small files
        sent.append(_alerts(objects.iloc[batch * 60 : batch * 60 + 60], batch, 30 + batch))
        _upsert(gold_uri, sent[-1], batch)
    real_ensure = tx.ensure_table
    calls: list[int] = []

    def compact_after_loading(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        table = real_ensure(*args, **kwargs)
        calls.append(table.version())
        if len(calls) == 1:  # another process compacts the same cells before this MERGE commits
            worker = threading.Thread(target=lambda: DeltaTable(gold_uri).optimize.compact())
            worker.start()
            worker.join()
        return table

    monkeypatch.setattr(tx, "ensure_table", compact_after_loading)
    sent.append(_alerts(objects, 3, 40))
    _upsert(gold_uri, sent[-1], 3)
    assert len(calls) == 2 and calls[1] > calls[0]  # the first attempt conflicted, the second won
    history = [h["operation"] for h in DeltaTable(gold_uri).history(3)]
    assert history[:2] == ["MERGE", "OPTIMIZE"]
    _check_against_refold(gold_uri, sent)
