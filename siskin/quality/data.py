"""One night of a lake table as a small Arrow table for the suites: read with delta-rs, only needed columns.

Heavy columns (payload bytes, nested histories) never leave Arrow: the suites get derived flags instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings
from siskin.lake import catalog

JD_UNIX_EPOCH = 2440587.5


def night_jd_range(night: int) -> tuple[float, float]:
    """Julian dates of the night's UTC calendar day [start, end) (how ZTF nights are assigned)."""
    start = datetime.strptime(str(night), "%Y%m%d").replace(tzinfo=UTC).timestamp() / 86400.0 + JD_UNIX_EPOCH
    return start, start + 1.0


def _dataset(settings: Settings, name: str):  # noqa: ANN202 - a pyarrow dataset or None
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(catalog.table(name).path(settings.lake_uri)).to_pyarrow_dataset()
    except TableNotFoundError:
        return None


def read_night(
    settings: Settings, name: str, night: int, columns: list[str], night_column: str = "night"
) -> pa.Table | None:
    """The night's rows of a table with the columns it has among `columns`; None when the table is absent."""
    dataset = _dataset(settings, name)
    if dataset is None:
        return None
    present = [c for c in columns if c in dataset.schema.names]
    condition = pc.field(night_column) == pa.scalar(night, dataset.schema.field(night_column).type)
    return dataset.to_table(columns=present, filter=condition)


def bronze_frame(settings: Settings, night: int) -> pa.Table | None:
    """Bronze checks' inputs: a payload present (or its absence explained), the source position."""
    cols = ["payload_size", "source_error", "source", "topic", "partition", "offset", "file_path"]
    cols.append("file_member")
    raw = read_night(settings, "bronze.alerts", night, cols)
    if raw is None:
        return None

    def text(name: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.cast(raw.column(name), pa.string()), "")

    position = pc.binary_join_element_wise(*(text(c) for c in cols[2:]), "|")
    present = pc.greater(pc.fill_null(raw.column("payload_size"), 0), 0)  # never reads the payload bytes
    explained = pc.or_(present, pc.is_valid(raw.column("source_error")))
    return pa.table({"payload_present": explained, "source_position": position})


def night_counts(settings: Settings, name: str) -> dict[int, int]:
    """Rows per night of a night-partitioned table, from the Delta log's file statistics (no data read)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        adds = pa.table(DeltaTable(catalog.table(name).path(settings.lake_uri)).get_add_actions(flatten=True))
    except TableNotFoundError:
        return {}
    if adds.num_rows == 0 or "partition.night" not in adds.column_names:
        return {}
    grouped = adds.group_by("partition.night").aggregate([("num_records", "sum")])
    nights = grouped.column("partition.night").to_pylist()
    return dict(zip(nights, grouped.column("num_records_sum").to_pylist(), strict=True))
