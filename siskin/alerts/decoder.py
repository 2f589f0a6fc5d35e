"""Columnar decoding of alert payloads into Arrow: alerts, cutouts and rejects.

Step 1: each payload's envelope is recognised and its record blocks inflated (`payloads`).
Step 2: each block is framed, so every record handed on is known to parse (`avro_framer`).
Step 3: the records of all payloads sharing a writer schema are decoded by DataFusion in one call;
        if that fails, the payloads are bisected until the bad ones are isolated and rejected.
Step 4: the survey codec flattens, conforms and validates the records (`ztf`, `rubin`).
The survey of each payload is recognised from its writer schema, so one batch may mix surveys: ZTF
alerts land in `alerts`, Rubin alerts in `rubin_alerts`, the cutouts of both in `cutouts`.
No per-alert Python objects are built for record values: all per-alert work is on Arrow columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from siskin.alerts.arrow_reader import ArrowDecodeError, read_records
from siskin.alerts.avro_container import Buffer
from siskin.alerts.avro_framer import FrameError
from siskin.alerts.payloads import Unpacked, WriterSchema, unpack
from siskin.alerts.peek import peek_payloads
from siskin.alerts.quality import quality_flags
from siskin.alerts.registry import SilverParts, codecs, get_codec
from siskin.config import DecodeSettings
from siskin.errors import DecodeError

__all__ = [
    "DecodedBatch",
    "cutout_schema",
    "decode_payloads",
    "peek_payloads",
    "quality_flags",
    "reject_schema",
    "rubin_alert_schema",
    "silver_alert_schema",
]

# Past this many records lost after a corrupt one in a block, the rest get one summary reject row.
MAX_LOST_RECORD_ROWS = 1000

REJECT_SCHEMA = pa.schema(
    [
        pa.field("_row", pa.int32(), nullable=False),
        pa.field("reason_code", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("alert_index", pa.int32()),
        pa.field("candid", pa.int64()),
        pa.field("objectId", pa.string()),
    ]
)


def silver_alert_schema(survey: str = "ztf") -> pa.Schema:
    """Columns of a survey's decoded alerts (`_row` first): what silver.alerts is built from."""
    return get_codec(survey).alert_schema()


def rubin_alert_schema() -> pa.Schema:
    """Columns of `DecodedBatch.rubin_alerts`: keys, every diaSource field, histories and nested records."""
    return silver_alert_schema("rubin")


@dataclass
class DecodedBatch:
    """The outputs of one decode: each survey's alerts, their cutouts (row order, with `survey`), rejects."""

    by_survey: dict[str, pa.Table]
    cutouts: pa.Table
    rejects: pa.Table

    @property
    def alerts(self) -> pa.Table:
        """The ZTF alerts."""
        return self.by_survey["ztf"]

    @property
    def rubin_alerts(self) -> pa.Table:
        """The Rubin alerts."""
        return self.by_survey["rubin"]


def cutout_schema(survey: str = "ztf") -> pa.Schema:
    """Columns of `DecodedBatch.cutouts`: kept apart so silver scans never read the FITS bytes."""
    return get_codec(survey).cutout_schema()


def reject_schema() -> pa.Schema:
    """Columns of `DecodedBatch.rejects`: one row per payload or record that could not be used."""
    return REJECT_SCHEMA


@dataclass
class _Rejects:
    """Payload- and block-level rejects, collected while framing (rare, so plain lists)."""

    rows: list[int] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    indexes: list[int | None] = field(default_factory=list)

    def add(self, row: int, code: str, reason: str, alert_index: int | None = None) -> None:
        self.rows.append(row)
        self.codes.append(code)
        self.reasons.append(reason)
        self.indexes.append(alert_index)

    def table(self) -> pa.Table:
        n = len(self.rows)
        return pa.Table.from_arrays(
            [
                pa.array(self.rows, pa.int32()),
                pa.array(self.codes, pa.string()),
                pa.array(self.reasons, pa.string()),
                pa.array(self.indexes, pa.int32()),
                pa.nulls(n, pa.int64()),
                pa.nulls(n, pa.string()),
            ],
            schema=REJECT_SCHEMA,
        )


@dataclass
class _Group:
    """Framed record blocks of every payload sharing one writer schema."""

    schema: WriterSchema
    blocks: list[tuple[int, Buffer]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    first_index: list[int] = field(default_factory=list)

    def add(self, row: int, first_index: int, count: int, data: Buffer) -> None:
        self.blocks.append((count, data))
        self.rows.append(row)
        self.first_index.append(first_index)


def decode_payloads(
    payloads: pa.BinaryArray | pa.LargeBinaryArray, settings: DecodeSettings, *, survey: str = "ztf"
) -> DecodedBatch:
    """Decode a batch of raw payloads; every payload yields at least one alert or one reject.

    Each payload's survey is recognised from its writer schema (or, for a Confluent frame, from the
    version its schema id is configured to); `survey` is assumed for payloads with no schema at all.
    """
    default = get_codec(survey)
    rejects = _Rejects()
    groups: dict[str, _Group] = {}
    for row, data in enumerate(payloads.to_pylist()):
        try:
            unpacked = unpack(data, settings, default)
        except DecodeError as exc:
            rejects.add(row, exc.code, exc.message)
            continue
        group = groups.setdefault(unpacked.schema.key, _Group(unpacked.schema))
        _frame(row, unpacked, group, rejects)
    parts = [part for group in groups.values() if group.blocks for part in _decode_group(group, rejects)]
    return _assemble(parts, rejects)


def _frame(row: int, unpacked: Unpacked, group: _Group, rejects: _Rejects) -> None:
    """Frame each block; keep the records that parse, reject the failing record and those after it."""
    framer = unpacked.schema.framer
    codec = unpacked.schema.codec
    assert codec is not None, "unpack only returns alert schemas"
    index = 0
    for count, block in unpacked.blocks:
        if count == 0:
            if block:
                rejects.add(row, "corrupt_avro", f"a block declares 0 records but holds {len(block)} bytes")
            continue
        if count > len(block):  # every record takes at least one byte: the count is corrupt
            rejects.add(
                row,
                "corrupt_avro",
                f"a block declares {count} records but holds only {len(block)} bytes",
                index,
            )
            index += count
            continue
        try:
            framer.split(block, count)
        except FrameError as exc:
            if unpacked.envelope == "schemaless":
                rejects.add(
                    row,
                    "not_avro",
                    "not an Avro container, a Confluent frame, or a schemaless "
                    f"{codec.name} {unpacked.schema.version} record ({exc})",
                )
                return
            keep = exc.index if exc.index < count else 0
            if keep:
                group.add(row, index, keep, block[: exc.ends[keep - 1]])
            lost_rows = min(count, keep + MAX_LOST_RECORD_ROWS)
            for k in range(keep, lost_rows):
                reason = str(exc) if k == keep else f"record lost: it follows corrupt record {index + keep}"
                rejects.add(row, "corrupt_avro", reason, index + k)
            if lost_rows < count:  # one row for the rest: a hostile count must not cost one row per record
                rejects.add(
                    row,
                    "corrupt_avro",
                    f"records {index + lost_rows}..{index + count - 1} lost: they follow corrupt record "
                    f"{index + keep}",
                    index + lost_rows,
                )
        else:
            group.add(row, index, count, block)
        index += count


def _decode_group(group: _Group, rejects: _Rejects) -> list[tuple[str, SilverParts]]:
    """One DataFusion call for the whole group; if it fails, bisect by payload to isolate the bad ones."""
    codec = group.schema.codec
    assert codec is not None, "unpack only returns alert schemas"
    by_row: dict[int, list[int]] = {}
    for i, row in enumerate(group.rows):
        by_row.setdefault(row, []).append(i)
    decoded: list[tuple[pa.Table, list[int]]] = []
    _decode_rows(group, list(by_row.items()), decoded, rejects)
    parts: list[tuple[str, SilverParts]] = []
    for table, picked in decoded:
        counts = np.array([group.blocks[i][0] for i in picked], np.int64)
        rows = np.repeat(np.array([group.rows[i] for i in picked], np.int64), counts)
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        firsts = np.repeat(np.array([group.first_index[i] for i in picked], np.int64), counts)
        alert_index = np.arange(int(counts.sum())) - starts + firsts
        offset = 0
        for batch in table.to_batches():
            end = offset + batch.num_rows
            silver = codec.to_silver(batch, rows[offset:end], alert_index[offset:end], group.schema.version)
            parts.append((codec.name, silver))
            offset = end
    return parts


def _decode_rows(
    group: _Group, rows: list[tuple[int, list[int]]], out: list[tuple[pa.Table, list[int]]], rejects: _Rejects
) -> None:
    """Decode the blocks of `rows` (payload, block indexes) in one call, or split them in two and recurse.

    A bad payload among n costs about 2 log2(n) calls instead of n.
    """
    picked = [i for _, blocks in rows for i in blocks]
    try:
        out.append((read_records(group.schema.inlined_json, [group.blocks[i] for i in picked]), picked))
    except ArrowDecodeError as exc:
        if len(rows) == 1:
            rejects.add(rows[0][0], "corrupt_avro", f"records frame but do not decode: {exc}")
            return
        middle = len(rows) // 2
        _decode_rows(group, rows[:middle], out, rejects)
        _decode_rows(group, rows[middle:], out, rejects)


def _in_row_order(table: pa.Table) -> pa.Table:
    """Stable sort on `_row` (needed only when several writer schemas interleave in one batch)."""
    rows = table.column("_row").to_numpy()
    if len(rows) < 2 or bool(np.all(rows[1:] >= rows[:-1])):
        return table
    return table.take(pa.array(np.argsort(rows, kind="stable")))


def _alerts_of(survey: str, parts: list[tuple[str, SilverParts]]) -> pa.Table:
    """The alerts of one survey in row order (an empty table of its schema if none)."""
    tables = [p.alerts for name, p in parts if name == survey and p.alerts.num_rows]
    return _in_row_order(pa.concat_tables(tables)) if tables else silver_alert_schema(survey).empty_table()


def _assemble(parts: list[tuple[str, SilverParts]], rejects: _Rejects) -> DecodedBatch:
    cutouts = [
        p.cutouts.append_column("survey", pa.array([name] * p.cutouts.num_rows, pa.string()))
        for name, p in parts
        if p.cutouts.num_rows
    ]
    all_rejects = [rejects.table()] + [p.rejects.cast(REJECT_SCHEMA) for _, p in parts if p.rejects.num_rows]
    reject_table = pa.concat_tables(all_rejects)
    if reject_table.num_rows > 1:
        reject_table = reject_table.sort_by([("_row", "ascending"), ("alert_index", "ascending")])
    empty_cutouts = cutout_schema().append(pa.field("survey", pa.string())).empty_table()
    return DecodedBatch(
        by_survey={codec.name: _alerts_of(codec.name, parts) for codec in codecs()},
        cutouts=_in_row_order(pa.concat_tables(cutouts)) if cutouts else empty_cutouts,
        rejects=reject_table,
    )
