"""ops.batches gets one row per batch but does not keep one file per batch."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from deltalake import DeltaTable

from siskin.config import Settings
from siskin.lake.catalog import tables
from siskin.ops.batches import BatchReport, record_batch


def test_ops_batches_is_compacted_as_stages_record_their_batches(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), maintain={"ops_compact_every": 5})
    tables()  # load the catalog before the threads (as `Lakehouse.ensure_tables` does)

    def stage(name: str) -> None:
        for batch in range(20):
            report = BatchReport(
                name, f"app-{name}", batch, datetime.now(UTC), input_rows=batch, output_rows=1
            )
            record_batch(settings, report)
            record_batch(settings, report)  # a replayed batch: no second row

    workers = [threading.Thread(target=stage, args=(name,)) for name in ("silver", "gold")]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ops = DeltaTable(str(tmp_path / "lake" / "ops" / "batches"))
    rows = ops.to_pandas()
    assert len(rows) == 40 and not rows.duplicated(["app_id", "batch_id"]).any()
    assert sorted(rows.loc[rows["query"] == "gold", "input_rows"]) == list(range(20))
    assert len(ops.file_uris()) <= 6  # 40 appends, at most 5 small files plus the compacted one
    assert any(h.get("siskin.maintain") == "compact" for h in ops.history())
