"""Silver: bronze payloads decoded (columnar), quality-flagged, deduplicated on candid.

One decode per micro-batch produces three outputs: `silver.alerts`, `silver.cutouts` and
`silver.rejects`. The executors decode (Arrow in, Arrow out); the driver then appends each table
with the app transaction (checkpoint app id, batch id). Silver is written last, so a batch whose
silver commit exists is complete everywhere, and a replayed batch is skipped table by table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin import __version__
from siskin.config import Settings
from siskin.lake.tables import PROVENANCE_FIELDS, UTC_TS

KIND = "_kind"
CUTOUT_KINDS = ("Science", "Template", "Difference")
CUTOUT_ONLY = tuple(f"cutout{k}_{p}" for k in CUTOUT_KINDS for p in ("fileName", "stampData"))
REJECT_ONLY = (
    pa.field("reason_code", pa.string()),
    pa.field("reason", pa.string()),
    pa.field("alert_index", pa.int32()),
    pa.field("payload", pa.binary()),
    pa.field("payload_size", pa.int64()),
)
PROCESSING = (
    pa.field("quality_ok", pa.bool_()),
    pa.field("quality_reason", pa.string()),
    pa.field("siskin_version", pa.string()),
    pa.field("processed_at", UTC_TS),
)


@lru_cache(maxsize=1)
def silver_schema() -> pa.Schema:
    """Columns of `silver.alerts`: the decoded alert, quality flags, provenance, processing info."""
    from siskin.alerts.decoder import silver_alert_schema

    decoded = [f for f in silver_alert_schema() if f.name != "_row"]
    return pa.schema(decoded + list(PROCESSING) + list(PROVENANCE_FIELDS))


@lru_cache(maxsize=1)
def cutouts_schema() -> pa.Schema:
    """Columns of `silver.cutouts`: keyed by candid, partitioned by night."""
    from siskin.alerts.decoder import cutout_schema

    return pa.schema([f for f in cutout_schema() if f.name != "_row"] + [PROCESSING[3]])


@lru_cache(maxsize=1)
def rejects_schema() -> pa.Schema:
    """Columns of `silver.rejects`: reason, raw bytes, and where the input came from."""
    keys = [pa.field("night", pa.int32()), pa.field("candid", pa.int64()), pa.field("objectId", pa.string())]
    return pa.schema(keys + list(REJECT_ONLY) + list(PROVENANCE_FIELDS) + [PROCESSING[2], PROCESSING[3]])


@lru_cache(maxsize=1)
def decoded_schema() -> pa.Schema:
    """The one schema the decode step emits: the union of the three tables plus a row kind."""
    fields: dict[str, pa.Field] = {KIND: pa.field(KIND, pa.string())}
    for schema in (silver_schema(), cutouts_schema(), rejects_schema()):
        for f in schema:
            fields.setdefault(f.name, f.with_nullable(True))
    return pa.schema(list(fields.values()))


def _provenance(bronze: pa.Table, rows: pa.Array) -> dict[str, pa.Array]:
    take = {f.name: f.name for f in PROVENANCE_FIELDS}
    take["bronze_sha256"] = "sha256"
    return {name: bronze.column(src).take(rows) for name, src in take.items()}


def _conform(columns: dict[str, pa.Array], n: int, kind: str) -> pa.Table:
    schema = decoded_schema()
    arrays = []
    for f in schema:
        if f.name == KIND:
            arrays.append(pa.array([kind] * n, pa.string()))
        elif f.name in columns:
            arrays.append(pc.cast(columns[f.name], f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def decode_bronze(bronze: pa.Table, settings: Settings, now: datetime | None = None) -> pa.Table:
    """Decode a bronze batch into decoded-schema rows: one per alert, one per reject."""
    from siskin.alerts.decoder import decode_payloads, quality_flags

    now = now or datetime.now(UTC)
    payloads = bronze.column("payload").combine_chunks()
    if pa.types.is_large_binary(payloads.type):
        payloads = payloads.cast(pa.binary())
    result = decode_payloads(payloads, settings.decode)
    out: list[pa.Table] = []
    alerts = result.alerts
    if alerts.num_rows:
        rows = alerts.column("_row")
        ok, reason = quality_flags(alerts, settings.quality)
        cols = {name: alerts.column(name) for name in alerts.column_names if name != "_row"}
        cols.update(_provenance(bronze, rows))
        cols["quality_ok"], cols["quality_reason"] = ok, reason
        cutouts = result.cutouts
        if cutouts.num_rows:
            # align cutouts with alerts on (_row, candid): both are in decode order
            index = pc.index_in(alerts.column("candid"), value_set=cutouts.column("candid"))
            for name in CUTOUT_ONLY:
                cols[name] = pc.take(cutouts.column(name), index)
        n = alerts.num_rows
        cols["siskin_version"] = pa.array([__version__] * n, pa.string())
        cols["processed_at"] = pa.array([now] * n, UTC_TS)
        out.append(_conform(cols, n, "alert"))
    rejects = result.rejects
    if rejects.num_rows:
        rows = rejects.column("_row")
        cols = {name: rejects.column(name) for name in rejects.column_names if name != "_row"}
        cols.update(_provenance(bronze, rows))
        cols["payload"] = payloads.take(rows)
        cols["payload_size"] = bronze.column("payload_size").take(rows)
        cols["night"] = bronze.column("night").take(rows)
        n = rejects.num_rows
        cols["siskin_version"] = pa.array([__version__] * n, pa.string())
        cols["processed_at"] = pa.array([now] * n, UTC_TS)
        out.append(_conform(cols, n, "reject"))
    if not out:
        return decoded_schema().empty_table()
    return pa.concat_tables(out)


def decode_mapper(settings: Settings) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The mapInArrow function decoding bronze batches on executors."""

    def mapper(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            if batch.num_rows:
                yield from decode_bronze(pa.Table.from_batches([batch]), settings).to_batches(
                    max_chunksize=1000
                )

    return mapper


class SeenCandids:
    """Candids already in silver, per night, loaded lazily and kept as sorted int64 arrays."""

    def __init__(self, silver_uri: str) -> None:
        self.silver_uri = silver_uri
        self.by_night: dict[int, np.ndarray] = {}

    def _load(self, night: int) -> np.ndarray:
        from siskin.lake.transactions import open_table

        table = open_table(self.silver_uri)
        if table is None:
            return np.empty(0, np.int64)
        data = table.to_pyarrow_dataset().to_table(columns=["candid"], filter=pc.field("night") == night)
        return np.sort(data.column("candid").to_numpy(zero_copy_only=False).astype(np.int64))

    def seen(self, candids: np.ndarray, nights: np.ndarray) -> np.ndarray:
        """Boolean mask: which (candid, night) pairs silver already holds."""
        mask = np.zeros(len(candids), bool)
        for night in np.unique(nights):
            if int(night) not in self.by_night:
                self.by_night[int(night)] = self._load(int(night))
            sel = nights == night
            mask[sel] = np.isin(candids[sel], self.by_night[int(night)], assume_unique=False)
        return mask

    def add(self, candids: np.ndarray, nights: np.ndarray) -> None:
        for night in np.unique(nights):
            known = self.by_night.get(int(night), np.empty(0, np.int64))
            self.by_night[int(night)] = np.union1d(known, candids[nights == night])

    def forget(self, night: int) -> None:
        self.by_night.pop(night, None)


def first_occurrence(candids: np.ndarray) -> np.ndarray:
    """Mask keeping the first row of each candid within a batch."""
    _, first = np.unique(candids, return_index=True)
    keep = np.zeros(len(candids), bool)
    keep[first] = True
    return keep
