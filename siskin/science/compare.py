"""Agreement with a peer broker: run Siskin's modules on alerts that carry the peer's values, compare.

Alerts are decoded through Siskin's own path (Parquet: the survey codec's `to_silver` flattens
`candidate` or `diaSource` exactly as silver does; Avro: the columnar decoder), so what is compared is
what silver would hold.
A peer column is compared as soon as a science module declares an output of the same name; the
columns the peer adds that no module produces yet are listed as such. Comparators are per column
(`PEER_COLUMNS`): labels and scores of later modules plug in by name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from siskin.alerts.registry import get_codec
from siskin.config import DecodeSettings
from siskin.errors import SiskinError
from siskin.science.base import ScienceModule
from siskin.science.runner import run_modules

Comparator = Callable[[pa.Array, pa.Array], np.ndarray]


def exact(ours: pa.Array, theirs: pa.Array) -> np.ndarray:
    """Equal values, or both null."""
    both_null = pc.and_(ours.is_null(), theirs.is_null())
    same = pc.fill_null(pc.equal(ours, pc.cast(theirs, ours.type)), False)
    return pc.or_(both_null, same).to_numpy(zero_copy_only=False)


def label(ours: pa.Array, theirs: pa.Array) -> np.ndarray:
    """Equal labels after trimming; null, empty and the peer's "Unknown" count as no label."""

    def norm(values: pa.Array) -> pa.Array:
        text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
        return pc.fill_null(pc.if_else(pc.is_in(text, pa.array(["", "Unknown", "nan"])), None, text), "")

    return pc.equal(norm(ours), norm(theirs)).to_numpy(zero_copy_only=False)


MANGROVE_FIELDS = ("HyperLEDA_name", "2MASS_name", "lum_dist", "ang_dist")


def fields_label(ours: pa.Array, theirs: pa.Array) -> np.ndarray:
    """Equal records (the peer's Mangrove match: a struct, or a map in older files), field by field as text;
    a record whose fields are all "None" (the peer's no-match) or null counts as no match."""

    def norm(values: pa.Array) -> pa.Array:
        parts = []
        for name in MANGROVE_FIELDS:
            if pa.types.is_map(values.type):
                field = pc.map_lookup(values, name, "first")
            else:
                field = pc.struct_field(values, name) if name in [f.name for f in values.type] else None
            text = pa.nulls(len(values), pa.string()) if field is None else pc.cast(field, pa.string())
            parts.append(pc.fill_null(pc.if_else(pc.equal(text, "None"), None, text), ""))
        return pc.binary_join_element_wise(*parts, "|")

    return pc.equal(norm(ours), norm(theirs)).to_numpy(zero_copy_only=False)


def close(tolerance: float) -> Comparator:
    """Scores equal within `tolerance` (both NaN or null also agree)."""

    def within(ours: pa.Array, theirs: pa.Array) -> np.ndarray:
        a = pc.cast(ours, pa.float64()).to_numpy(zero_copy_only=False)
        b = pc.cast(theirs, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray((np.abs(a - b) <= tolerance) | (np.isnan(a) & np.isnan(b)))

    return within


def mulens_score(tolerance: float) -> Comparator:
    """The microlensing score within `tolerance`; the peer's older per-band record (class_1, ml_score_1,
    class_2, ml_score_2) is read as its later score: the mean of the two when both classes are ML, else 0."""

    def within(ours: pa.Array, theirs: pa.Array) -> np.ndarray:
        if pa.types.is_struct(theirs.type):
            both = pc.and_(
                pc.equal(pc.struct_field(theirs, "class_1"), "ML"),
                pc.equal(pc.struct_field(theirs, "class_2"), "ML"),
            )
            mean = pc.divide(
                pc.add(pc.struct_field(theirs, "ml_score_1"), pc.struct_field(theirs, "ml_score_2")), 2.0
            )
            theirs = pc.if_else(pc.fill_null(both, False), mean, 0.0)
        return close(tolerance)(ours, theirs)

    return within


def features(rtol: float, atol: float = 1e-12) -> Comparator:
    """Structs of floats equal field by field within `rtol` (null fields, null structs and NaN agree)."""

    def within(ours: pa.Array, theirs: pa.Array) -> np.ndarray:
        agree = np.ones(len(ours), bool)
        names = {ours.type.field(i).name for i in range(ours.type.num_fields)}
        names |= {theirs.type.field(i).name for i in range(theirs.type.num_fields)}
        for name in sorted(names):
            a, b = (_field_values(side, name) for side in (ours, theirs))
            agree &= (np.abs(a - b) <= atol + rtol * np.abs(b)) | (np.isnan(a) & np.isnan(b))
        return agree

    return within


def _field_values(structs: pa.Array, name: str) -> np.ndarray:
    """One field of a struct column as float64, NaN where the field, its struct or the value is missing."""
    if structs.type.get_field_index(name) < 0:
        return np.full(len(structs), np.nan)
    values = pc.cast(pc.struct_field(structs, name), pa.float64())
    values = pc.if_else(structs.is_valid(), values, pa.scalar(None, pa.float64()))
    return np.asarray(values.to_numpy(zero_copy_only=False), np.float64)


# Columns the peer broker (Fink) adds to alerts, with how Siskin's value is compared to its value.
PEER_COLUMNS: dict[str, Comparator] = {
    "roid": exact,
    "nalerthist": exact,
    "cdsxmatch": label,
    "vsx": label,
    "gcvs": label,
    "mangrove": fields_label,
    "x3hsp": label,
    "x4lac": label,
    "spicy_class": label,
    "DR3Name": label,
    "mulens": mulens_score(1e-3),
    "rf_snia_vs_nonia": close(1e-3),
    "snn_snia_vs_nonia": close(1e-3),
    "snn_sn_vs_all": close(1e-3),
    "rf_kn_vs_nonkn": close(1e-3),
    "anomaly_score": close(1e-6),
    "lc_features_g": features(1e-6),
    "lc_features_r": features(1e-6),
    "finkclass": label,
}


# Per survey: the (object, alert) keys Siskin's silver table and the peer's values are joined on.
KEYS: dict[str, tuple[str, str]] = {"ztf": ("objectId", "candid"), "rubin": ("diaObjectId", "diaSourceId")}


@dataclass
class PeerAlerts:
    """One input file: its alerts as Siskin decodes them, the peer's values keyed alike, and rejects."""

    path: Path
    survey: str
    alerts: pa.Table
    peer: pa.Table
    rejects: pa.Table


@dataclass
class ColumnReport:
    """Agreement on one column: counts, and each disagreement as (object, alert, ours, theirs)."""

    column: str
    compared: int = 0
    agreed: int = 0
    disagreements: list[tuple[object, object, object, object]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Share of compared alerts that agree (NaN when none was compared)."""
        return self.agreed / self.compared if self.compared else float("nan")


@dataclass
class Agreement:
    """The whole comparison: per (survey, column) reports, what could not be compared, and why."""

    columns: dict[tuple[str, str], ColumnReport]
    files: list[str]
    alerts: int
    not_decoded: list[tuple[str, str, str, int]]  # (file, reason code, reason, alerts)
    not_produced: list[str]  # peer columns no Siskin module produces yet


def peer_files(path: Path) -> list[Path]:
    """The Parquet and Avro files at `path` (a file, or a folder searched recursively), sorted."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SiskinError(f"{path} does not exist")
    return sorted(p for p in path.rglob("*") if p.suffix in (".parquet", ".avro") and p.is_file())


def survey_of(names: Sequence[str]) -> str | None:
    """The survey whose alerts have these top-level fields: ZTF `candidate`, Rubin `diaSource`."""
    return "ztf" if "candidate" in names else "rubin" if "diaSource" in names else None


def peer_values(raw: pa.Table, survey: str) -> pa.Table:
    """The keys and the peer's added columns of `raw` (alerts as the peer wrote them).

    Rubin alerts processed by newer peer versions carry `pred.is_sso` and `pred.is_first` instead
    of `roid`; they are read as `roid` 3, 1 or 0, the same convention.
    """
    if survey == "ztf":
        keys = [raw.column("objectId"), raw.column("candid")]
    else:
        source = raw.column("diaSource").combine_chunks()
        alert = raw.column("diaSourceId") if "diaSourceId" in raw.column_names else None
        keys = [
            pc.struct_field(source, "diaObjectId"),
            alert if alert is not None else pc.struct_field(source, "diaSourceId"),
        ]
    names = list(KEYS[survey])
    arrays = [pc.cast(keys[0], pa.string() if survey == "ztf" else pa.int64()), pc.cast(keys[1], pa.int64())]
    for column in PEER_COLUMNS:
        if column in raw.column_names:
            names.append(column)
            arrays.append(raw.column(column))
    if survey == "rubin" and "roid" not in raw.column_names and "pred" in raw.column_names:
        pred = raw.column("pred").combine_chunks()
        sso = pc.fill_null(pc.struct_field(pred, "is_sso"), False)
        first = pc.fill_null(pc.struct_field(pred, "is_first"), False)
        names.append("roid")
        arrays.append(pc.if_else(sso, 3, pc.if_else(first, 1, 0)).cast(pa.int32()))
    return pa.table(dict(zip(names, arrays, strict=True)))


def read_parquet(path: Path) -> PeerAlerts | None:
    """A Parquet file of nested alerts, flattened by the survey's codec exactly as silver does."""
    table = pq.read_table(path)
    survey = survey_of(table.column_names)
    if survey is None:
        return None
    codec = get_codec(survey)
    alerts, rejects = [], []
    start = 0
    for batch in table.to_batches():
        rows = np.arange(start, start + batch.num_rows)
        parts = codec.to_silver(batch, rows, np.zeros(batch.num_rows, np.int32), None)
        alerts.append(parts.alerts)
        rejects.append(parts.rejects)
        start += batch.num_rows
    decoded = pa.concat_tables(alerts) if alerts else codec.alert_schema().empty_table()
    bad = pa.concat_tables(rejects) if rejects else pa.table({})
    return PeerAlerts(path, survey, decoded, peer_values(table, survey), bad)


def read_avro(path: Path) -> PeerAlerts | None:
    """An Avro container file, decoded by Siskin's columnar decoder; the peer's fields read with fastavro."""
    import fastavro

    from siskin.alerts.decoder import decode_payloads

    with path.open("rb") as handle:
        reader = fastavro.reader(handle)
        fields = _field_names(reader.writer_schema)
        survey = survey_of(fields)
        if survey is None:
            return None
        wanted = {"objectId", "candid", "diaSourceId", "pred", *PEER_COLUMNS} & set(fields)
        rows = []
        for item in reader:
            record = cast(dict[str, Any], item)
            row = {k: record[k] for k in wanted}
            if survey == "rubin":
                source = record["diaSource"]
                row["diaSource"] = {
                    "diaObjectId": source.get("diaObjectId"),
                    "diaSourceId": source["diaSourceId"],
                }
            rows.append(row)
    decoded = decode_payloads(pa.array([path.read_bytes()], pa.binary()), DecodeSettings(), survey=survey)
    return PeerAlerts(
        path,
        survey,
        decoded.by_survey[survey],
        peer_values(pa.Table.from_pylist(rows), survey),
        decoded.rejects,
    )


def _field_names(schema: object) -> list[str]:
    return [str(f["name"]) for f in cast(dict[str, Any], schema)["fields"]]


def load(path: Path) -> PeerAlerts | None:
    """Read one file by its suffix (None when it holds no ZTF or Rubin alerts)."""
    return read_parquet(path) if path.suffix == ".parquet" else read_avro(path)


def peer_schema(path: Path) -> tuple[str | None, set[str]]:
    """The file's survey and the peer columns it carries, from its schema alone (`pred` read as `roid`)."""
    if path.suffix == ".avro":
        import fastavro

        with path.open("rb") as handle:
            names = _field_names(fastavro.reader(handle).writer_schema)
    else:
        names = pq.read_schema(path).names
    survey = survey_of(names)
    carried = set(names) & PEER_COLUMNS.keys()
    if survey == "rubin" and "pred" in names:
        carried.add("roid")
    return survey, carried


def compare(
    paths: Sequence[Path], modules: Sequence[ScienceModule], columns: Sequence[str] | None = None
) -> Agreement:
    """Run `modules` on every file's alerts and compare each produced column with the peer's."""
    reports: dict[tuple[str, str], ColumnReport] = {}
    not_produced: set[str] = set()
    not_decoded: list[tuple[str, str, str, int]] = []
    files: list[str] = []
    total = 0
    for path in paths:
        survey, carried = peer_schema(path)
        mine = [m for m in modules if m.survey == survey]
        produced = {o.name for m in mine for o in m.outputs}
        not_produced.update(carried - produced)
        wanted = sorted(c for c in carried & produced if columns is None or c in columns)
        item = load(path) if wanted else None
        if item is None:
            continue
        files.append(str(item.path))
        codes, why = item.rejects.column("reason_code").to_pylist(), item.rejects.column("reason").to_pylist()
        reasons = Counter(zip(codes, why, strict=True))
        not_decoded += [
            (str(path), str(code), str(reason), count) for (code, reason), count in reasons.items()
        ]
        if not item.alerts.num_rows:
            continue
        keys = KEYS[item.survey]
        ours = run_modules(item.alerts, _producing(mine, wanted), keys=keys)
        joined = _join(ours, item.peer, keys, wanted)
        total += joined.num_rows
        for column in wanted:
            report = reports.setdefault((item.survey, column), ColumnReport(column))
            _tally(report, joined, keys, column)
    return Agreement(reports, files, total, not_decoded, sorted(not_produced))


def _producing(modules: Sequence[ScienceModule], columns: Sequence[str]) -> list[ScienceModule]:
    """The modules producing `columns`, with every module they read from (transitively)."""
    producer = {o.name: m for m in modules for o in m.outputs}
    wanted = {producer[c].name: producer[c] for c in columns if c in producer}
    todo = list(wanted.values())
    while todo:
        module = todo.pop()
        for path in (*module.inputs, *module.optional_inputs):
            upstream = producer.get(path.split(".", 1)[0])
            if upstream is not None and upstream.name not in wanted:
                wanted[upstream.name] = upstream
                todo.append(upstream)
    return [m for m in modules if m.name in wanted]


def _join(ours: pa.Table, peer: pa.Table, keys: Sequence[str], columns: Sequence[str]) -> pa.Table:
    """Our outputs next to the peer's values of the same alert (joined on the alert key)."""
    object_key, alert_key = keys
    theirs = peer.select([alert_key, *columns]).rename_columns([alert_key, *(f"theirs_{c}" for c in columns)])
    mine = ours.select([object_key, alert_key, *columns])
    mine = mine.rename_columns([object_key, alert_key, *(f"ours_{c}" for c in columns)])
    _, first = np.unique(theirs.column(alert_key).to_numpy(), return_index=True)
    if len(first) != theirs.num_rows:  # the same alert twice in one file: its first copy
        theirs = theirs.take(pa.array(np.sort(first)))
    # join row numbers only (Acero joins no struct columns, e.g. feature structs), then take the rows
    rows = pa.table({alert_key: mine.column(alert_key), "_ours": np.arange(mine.num_rows)})
    peer_rows = pa.table({alert_key: theirs.column(alert_key), "_theirs": np.arange(theirs.num_rows)})
    pairs = rows.join(peer_rows, alert_key, join_type="inner").sort_by([(alert_key, "ascending")])
    if pairs.num_rows != mine.num_rows:
        raise SiskinError(
            f"{mine.num_rows - pairs.num_rows} decoded alerts have no peer values ({alert_key})"
        )
    picked, theirs_picked = mine.take(pairs.column("_ours")), theirs.take(pairs.column("_theirs"))
    return pa.Table.from_arrays(
        [*picked.columns, *theirs_picked.drop_columns([alert_key]).columns],
        names=[*picked.column_names, *(n for n in theirs_picked.column_names if n != alert_key)],
    )


def _tally(report: ColumnReport, joined: pa.Table, keys: Sequence[str], column: str) -> None:
    ours = joined.column(f"ours_{column}").combine_chunks()
    theirs = joined.column(f"theirs_{column}").combine_chunks()
    agree = PEER_COLUMNS[column](ours, theirs)
    report.compared += len(agree)
    report.agreed += int(agree.sum())
    bad = np.flatnonzero(~agree)
    if len(bad):
        rows = joined.take(pa.array(bad)).select([*keys, f"ours_{column}", f"theirs_{column}"])
        report.disagreements.extend(tuple(r.values()) for r in rows.to_pylist())  # type: ignore[misc]


def format_agreement(result: Agreement, max_listed: int = 50) -> str:
    """The report as text: one line per (survey, column), then the disagreements."""
    lines = [f"{result.alerts} alerts compared, from {len(result.files)} files carrying peer values"]
    if result.not_decoded:
        lines.append(f"{sum(n for *_, n in result.not_decoded)} alerts not decoded by Siskin (not compared):")
        lines += [f"  {n} in {f}: {code}: {reason}" for f, code, reason, n in result.not_decoded[:max_listed]]
    lines.append(f"{'survey':<7} {'column':<14} {'compared':>8} {'agreed':>8} {'rate':>8}")
    for (survey, column), report in result.columns.items():
        lines.append(f"{survey:<7} {column:<14} {report.compared:>8} {report.agreed:>8} {report.rate:>8.2%}")
    for (survey, column), report in result.columns.items():
        if report.disagreements:
            object_key, alert_key = KEYS[survey]
            lines.append(
                f"\n{survey} {column}: {len(report.disagreements)} disagreements "
                f"({object_key}, {alert_key}, ours, theirs)"
            )
            lines += [
                f"  {o} {a} {ours!r} {theirs!r}" for o, a, ours, theirs in report.disagreements[:max_listed]
            ]
    if result.not_produced:
        lines.append(f"\npeer columns Siskin does not produce yet: {', '.join(result.not_produced)}")
    return "\n".join(lines)
