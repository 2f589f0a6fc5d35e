"""The gold micro-batch (driver side): fold new silver alerts of every survey into `gold.objects`, one MERGE.

The stream hands over references to the silver files a batch added (each survey's table, tagged with
the table's name); the driver reads only the columns gold needs from them (no payload or history moves
through Spark), maps them to one shape (`siskin.gold.inputs`) and MERGEs the folded rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa
from pyspark.sql import DataFrame

from siskin.gold.classes import CLASS_HISTORY, class_changes
from siskin.gold.inputs import GOLD_INPUT_SCHEMA, gold_inputs, read_columns
from siskin.gold.merge import GOLD, fold_alerts, merge_folded
from siskin.lake.catalog import table
from siskin.lake.transactions import append_arrow
from siskin.pipeline.stage import BatchOutput, Stage


def read_inputs(lake_uri: str, refs: pa.Table) -> pa.Table:
    """The gold inputs of silver files given as references (`path`, `partition_values`, `rows`, `table`)."""
    from siskin.lake.delta_source import read_file_refs

    parts = []
    for name in sorted(set(refs.column("table").to_pylist())):
        spec = table(name)
        assert spec.survey is not None, f"{name} is not a survey table"
        mine = refs.filter(pa.compute.equal(refs.column("table"), name))
        columns = read_columns(spec.survey)
        for chunk in read_file_refs(spec.path(lake_uri), mine, columns=columns, batch_rows=50000):
            chunk = chunk.set_column(
                chunk.schema.get_field_index("night"), "night", chunk.column("night").cast(pa.int32())
            )
            parts.append(gold_inputs(spec.survey, chunk))
    return pa.concat_tables(parts) if parts else GOLD_INPUT_SCHEMA.empty_table()


@dataclass
class GoldStage(Stage):
    """`foreachBatch` body of the silver -> gold query: objects folded, class changes appended."""

    writer: ClassVar[str] = "gold"
    marker: ClassVar[str] = GOLD

    def produce(self, df: DataFrame, batch_id: int) -> BatchOutput | None:
        alerts = read_inputs(self.settings.lake_uri, df.toArrow())
        if alerts.num_rows == 0:
            return None
        frame = alerts.to_pandas()
        merged, cells, before = fold_alerts(self.path(GOLD), frame, self.settings.gold.buckets)
        changes = class_changes(frame, before)
        rows: dict[str, object] = {GOLD: (merged, cells)}
        if changes.num_rows:
            rows[CLASS_HISTORY] = changes
        return BatchOutput(
            rows=rows,
            input_rows=alerts.num_rows,
            output_rows=len(merged),
            nights=sorted({int(n) for n in frame["night"].unique()}),
        )

    def commit_order(self, output: BatchOutput) -> list[str]:
        """Class changes first, the objects (the marker) last."""
        return [n for n in (CLASS_HISTORY,) if n in output.rows] + [GOLD]

    def commit_table(self, name: str, output: BatchOutput, batch_id: int, metadata: dict[str, str]) -> None:
        if name == CLASS_HISTORY:
            spec = self.spec(name)
            append_arrow(
                self.path(name),
                output.rows[name],
                spec.partition_by,
                app_id=self.app_id,
                version=batch_id,
                metadata=metadata,
            )
            return
        merged, cells = output.rows[name]
        merge_folded(self.path(name), merged, cells, app_id=self.app_id, version=batch_id, metadata=metadata)
