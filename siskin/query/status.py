"""`siskin status`: per table and per query, what is in the lake and how far behind each stream is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from siskin.config import Settings
from siskin.lake.catalog import checkpoint_path, table_path, tables
from siskin.lake.parquet_files import filesystem_for


@dataclass
class TableStatus:
    """One table's current state."""

    table: str
    version: int | None
    rows: int | None
    last_commit: str | None
    last_batch_seconds: float | None
    lag: str


def table_rows(uri: str) -> tuple[int | None, int | None, str | None]:
    """(version, row count from file stats, last commit time) of a Delta table, or Nones."""
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return None, None, None
    actions = table.get_add_actions(flatten=True)
    names = list(actions.schema.names) if hasattr(actions, "schema") else []
    rows = None
    if "num_records" in names:
        import pyarrow as pa

        col = pa.table(actions).column("num_records")
        rows = int(sum(v for v in col.to_pylist() if v is not None))
    history = table.history(1)
    ts = history[0].get("timestamp") if history else None
    when = datetime.fromtimestamp(ts / 1000, UTC).isoformat(timespec="seconds") if ts else None
    return table.version(), rows, when


def checkpoint_offset(checkpoint_uri: str) -> dict[str, Any] | None:
    """The source offset of the last committed micro-batch of a streaming checkpoint (its last source)."""
    offsets = checkpoint_offsets(checkpoint_uri)
    return offsets[-1] if offsets else None


def checkpoint_offsets(checkpoint_uri: str) -> list[dict[str, Any]] | None:
    """The offsets, one per source in the query's order, of the last committed micro-batch."""
    fs, root = filesystem_for(checkpoint_uri)
    try:
        import pyarrow.fs as pafs

        commits = fs.get_file_info(pafs.FileSelector(f"{root}/commits", allow_not_found=True))
    except OSError:
        return None
    ids = sorted(int(i.base_name) for i in commits if i.base_name.isdigit())
    if not ids:
        return None
    with fs.open_input_stream(f"{root}/offsets/{ids[-1]}") as stream:
        lines = stream.read().decode().splitlines()
    return [json.loads(line) for line in lines[2:]] if len(lines) >= 3 else None


def upstream_tables(query: str) -> list[str]:
    """The lake tables a downstream query reads, in its sources' order (from the catalog)."""
    if query == "silver":
        return ["bronze.alerts"]
    if query in ("gold", "distribute"):
        return [t.name for t in tables(writer="silver") if t.survey is not None]
    return []


def version_lag(settings: Settings, query: str) -> str:
    """How many commits of its upstream tables a downstream query has not processed yet."""
    from siskin.lake.transactions import open_table

    offsets = checkpoint_offsets(checkpoint_path(settings.checkpoints_uri, query))
    behind = 0
    for i, name in enumerate(upstream_tables(query)):
        upstream = open_table(table_path(settings.lake_uri, name))
        if upstream is None:
            continue
        if offsets is None or i >= len(offsets):
            return f"{upstream.version() + 1}+ commits (query never ran)"
        behind += max(0, upstream.version() - int(offsets[i]["version"]))
    return f"{behind} commits"


def bronze_lags(settings: Settings) -> list[str]:
    """Lag of every bronze query: Kafka messages or files not yet committed to bronze."""
    import pyarrow.fs as pafs

    from siskin.lake.checkpoints import read_source

    fs, root = filesystem_for(settings.checkpoints_uri)
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    lags = []
    for info in sorted(infos, key=lambda i: i.base_name):
        if not info.base_name.startswith("bronze_"):
            continue
        ckpt = checkpoint_path(settings.checkpoints_uri, info.base_name)
        source = read_source(ckpt) or {}
        offset = checkpoint_offset(ckpt)
        if "kafka" in source:
            lags.append(f"{info.base_name}: {kafka_lag(source['kafka'], offset)}")
        elif "files" in source:
            manifest = _manifest_size(ckpt)
            done = int(offset["index"]) if offset else 0
            lags.append(f"{info.base_name}: {max(0, manifest - done)} files")
    return lags


def _manifest_size(ckpt: str) -> int:
    fs, root = filesystem_for(f"{ckpt}/siskin_manifest.jsonl")
    try:
        with fs.open_input_stream(root) as stream:
            return sum(1 for line in stream.read().decode().splitlines() if line.strip())
    except (FileNotFoundError, OSError):
        return 0


def kafka_lag(options: dict[str, str], offset: dict[str, Any] | None, timeout_s: float = 3.0) -> str:
    """Messages between the committed offsets and the brokers' high watermarks."""
    try:
        from siskin.sources.kafka import _Cluster
        from siskin.sources.kafka_offsets import KafkaSourceOptions

        quiet = {**options, "pollTimeoutS": str(timeout_s), "kafka.log_level": "0"}  # a gone broker: no spam
        parsed = KafkaSourceOptions.parse(quiet)
        cluster = _Cluster(parsed)
        _, high = cluster.watermarks(cluster.partitions())
    except Exception as exc:  # noqa: BLE001 - status reports, it does not fail
        return f"broker {options.get('bootstrap')} unreachable ({type(exc).__name__})"
    done = {(t, int(p)): int(o) for t, parts in (offset or {}).items() for p, o in parts.items()}
    behind = sum(max(0, h - done.get(tp, 0)) for tp, h in high.items())
    return f"{behind} messages"


def last_batch_seconds(settings: Settings) -> dict[str, float]:
    """Duration of each query's most recent micro-batch, from `ops.batches`."""
    from siskin.lake.transactions import open_table

    table = open_table(table_path(settings.lake_uri, "ops.batches"))
    if table is None:
        return {}
    frame = table.to_pandas(columns=["query", "committed_at", "seconds"])
    if frame.empty:
        return {}
    frame["query"] = frame["query"].str.replace(r"^bronze_.*", "bronze", regex=True)
    latest = frame.sort_values("committed_at").groupby("query").tail(1)
    return dict(zip(latest["query"], latest["seconds"], strict=True))


def lake_status(settings: Settings) -> list[TableStatus]:
    """Status of every table; lag of the stage that writes it, from its checkpoint."""
    seconds = last_batch_seconds(settings)
    out = []
    for spec in tables():
        version, rows, when = table_rows(spec.path(settings.lake_uri))
        lag = "-"
        batch_s = seconds.get(spec.writer)
        if spec.writer == "bronze":
            lag = "see below"
        elif upstream_tables(spec.writer):
            lag = version_lag(settings, spec.writer)
        out.append(TableStatus(spec.name, version, rows, when, batch_s, lag))
    return out


def kafka_gaps(settings: Settings, limit: int = 20) -> list[str]:
    """Kafka offsets lost to retention before Siskin read them (`ops.kafka_gaps`), oldest first."""
    from siskin.sources.kafka_gaps import GAPS_TABLE, read_gaps

    gaps = read_gaps(table_path(settings.lake_uri, GAPS_TABLE))
    if gaps is None or gaps.num_rows == 0:
        return []
    rows = gaps.to_pylist()  # a handful of rows: this is a report, not a hot path
    lines = [
        f"{r['topic']}[{r['partition']}] offsets {r['from_offset']}..{r['to_offset'] - 1} "
        f"({r['messages']} messages), detected {r['detected_at']:%Y-%m-%d %H:%M:%S} UTC by {r['query']}"
        for r in rows[-limit:]
    ]
    if len(rows) > limit:
        lines.insert(
            0, f"... and {len(rows) - limit} earlier gaps: siskin sql 'SELECT * FROM ops.kafka_gaps'"
        )
    return lines


def format_status(
    rows: list[TableStatus], bronze: list[str] | None = None, gaps: list[str] | None = None
) -> str:
    """A plain-text table for the terminal, then the lag of each bronze query and any Kafka data loss."""
    header = f"{'table':<21}{'version':>8}{'rows':>10}  {'last commit (UTC)':<26}{'last batch':>11}  lag"
    lines = [header, "-" * len(header)]
    for r in rows:
        batch = f"{r.last_batch_seconds:.2f}s" if r.last_batch_seconds is not None else "-"
        lines.append(
            f"{r.table:<21}{_s(r.version):>8}{_s(r.rows):>10}  {_s(r.last_commit):<26}{batch:>11}  {r.lag}"
        )
    if bronze:
        lines += ["", "bronze queries (not yet in bronze):"] + [f"  {b}" for b in bronze]
    if gaps:
        lines += ["", "Kafka offsets deleted by retention before Siskin read them (failOnDataLoss=false):"]
        lines += [f"  {g}" for g in gaps]
    return "\n".join(lines)


def _s(value: object) -> str:
    return "-" if value is None else str(value)
