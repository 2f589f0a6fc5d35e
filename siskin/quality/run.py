"""`run_night`: check one night's bronze, silver and gold, record the verdict, write Data Docs and a report.

The verdict goes to `gold.night_status` (one row per night, replaced on each run): `ok`, or `suspect`
with the failed expectations. Nothing is ever deleted from the data. A suspect night raises
QualityError after the status, Data Docs and report are written, so the CLI and the DAG task fail with a
readable message.
"""

from __future__ import annotations

import logging
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin import __version__
from siskin.config import Settings
from siskin.errors import LakeError, SiskinError
from siskin.lake import catalog
from siskin.quality import data as lake_data
from siskin.quality import suites
from siskin.quality.gx_run import Batch, Outcome, validate
from siskin.quality.offline import make_offline
from siskin.quality.report import BAND_NAMES, NightData, render
from siskin.quality.tables import NIGHT_STATUS, NIGHT_STATUS_SCHEMA

log = logging.getLogger(__name__)

JD_UNIX_EPOCH = lake_data.JD_UNIX_EPOCH
MJD_OFFSET = suites.MJD_OFFSET
RUBIN_AB_ZERO_POINT = 31.4  # AB magnitude of 1 nJy


class QualityError(SiskinError):
    """A night failed its data-quality checks: it is marked suspect (the data are kept)."""

    def __init__(self, message: str, result: QualityResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class QualityResult:
    """One night's verdict: every expectation's outcome, and where the report and Data Docs are."""

    night: int
    status: str
    outcomes: list[Outcome]
    report: str
    data_docs: str
    alerts: int
    rejects: int
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]


def volume(counts: dict[int, int], night: int, trailing: int) -> tuple[float, float | None]:
    """Tonight's count over the median of the `trailing` earlier nights holding data (None: no history)."""
    history = [counts[n] for n in sorted(n for n in counts if n < night)[-trailing:]]
    if not history:
        return 1.0, None
    median = float(statistics.median(history))
    return (counts.get(night, 0) / median if median else 1.0), median


def _reports_root(settings: Settings, night: int) -> str:
    return f"{settings.lake_uri}/_reports/{night}"


def _publish(local: Path, destination: str) -> None:
    """Copy the built report folder to the lake, replacing the night's previous one.

    Local lakes: a renamed-in folder. Object stores: file by file, then the earlier run's extra files deleted.
    """
    if "://" not in destination:
        target = Path(destination)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(target.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        shutil.copytree(local, staged)
        old = target.with_name(target.name + ".old")
        if target.exists():
            target.rename(old)
        staged.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return
    from siskin.exports import store

    names = [p.relative_to(local).as_posix() for p in sorted(local.rglob("*")) if p.is_file()]
    stale = set(store.list_files(destination)) - set(names)
    for name in names:
        store.write_file(f"{destination}/{name}", (local / name).read_bytes())
    fs, path = store.filesystem(destination)
    for name in sorted(stale):  # pages of an earlier run of the night that this run no longer has
        fs.rm_file(f"{path}/{name}")


def _magnitudes(table: pa.Table) -> np.ndarray | None:
    """PSF magnitudes: ZTF's magpsf, or Rubin's psfFlux (nJy) as AB magnitudes (NaN where flux <= 0)."""
    if "magpsf" in table.column_names:
        return np.asarray(table.column("magpsf").to_numpy(zero_copy_only=False), dtype=float)
    if "psfFlux" in table.column_names:
        flux = np.asarray(table.column("psfFlux").to_numpy(zero_copy_only=False), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(flux > 0, RUBIN_AB_ZERO_POINT - 2.5 * np.log10(flux), np.nan)
    return None


def _night_data(settings: Settings, night: int, frames: dict[str, pa.Table]) -> NightData:
    """The report's inputs (a second, wider read of the survey tables' light columns)."""
    hours: list[np.ndarray] = []
    mags: dict[str, list[np.ndarray]] = {}
    ras, decs, latency = [], [], []
    start, _ = lake_data.night_jd_range(night)
    for spec in catalog.tables(layer="silver"):
        if spec.survey is None or spec.writer != "silver" or not spec.key:
            continue
        cols = ["jd", "midpointMjdTai", "fid", "band", "magpsf", "psfFlux", "ra", "dec", "processed_at"]
        cols.append("ingest_time")
        table = lake_data.read_night(settings, spec.name, night, cols)
        if table is None or table.num_rows == 0:
            continue
        if "jd" in table.column_names:
            jd = table.column("jd").to_numpy(zero_copy_only=False).astype(float)
        elif "midpointMjdTai" in table.column_names:
            jd = table.column("midpointMjdTai").to_numpy(zero_copy_only=False).astype(float) + MJD_OFFSET
        else:
            jd = np.array([])
        hours.append(np.mod((jd - start) * 24.0, 24.0))  # UTC hour of day (Rubin nights span noon to noon)
        values = _magnitudes(table)
        if values is not None:
            band_col = "fid" if "fid" in table.column_names else "band"
            bands = np.array(table.column(band_col).to_pylist(), dtype=object)
            for b in np.unique(bands[bands != None]):  # noqa: E711 - numpy elementwise comparison
                name = f"{spec.survey} {BAND_NAMES.get(b, b)}"
                mags.setdefault(name, []).append(values[bands == b])
        ras.append(table.column("ra").to_numpy(zero_copy_only=False).astype(float))
        decs.append(table.column("dec").to_numpy(zero_copy_only=False).astype(float))
        if "processed_at" in table.column_names and "ingest_time" in table.column_names:
            lag = pc.subtract(table.column("processed_at"), table.column("ingest_time"))
            latency.append(pc.cast(lag, pa.int64()).to_numpy(zero_copy_only=False) / 1e6)
    rejects = lake_data.read_night(settings, "silver.rejects", night, ["reason_code"])
    reasons: dict[str, int] = {}
    if rejects is not None and rejects.num_rows:
        counted = pc.value_counts(rejects.column("reason_code").fill_null("(none)"))
        reasons = {r["values"]: r["counts"] for r in counted.to_pylist()}
    gold = frames.get("gold.objects")
    classes: dict[str, int] = {}
    for column in suites.CLASS_COLUMNS:
        if gold is not None and column in gold.column_names:
            counted = pc.value_counts(gold.column(column).drop_null())
            classes = {r["values"]: r["counts"] for r in counted.to_pylist()}
            break
    stage_seconds: dict[str, list[float]] = {}
    ops = lake_data._dataset(settings, "ops.batches")
    if ops is not None:
        batches = ops.to_table(columns=["query", "nights", "seconds"])
        tonight = pc.match_substring(batches.column("nights").fill_null(""), str(night))
        for row in batches.filter(tonight).to_pylist():
            stage = row["query"].split("_", 1)[0]
            stage_seconds.setdefault(stage, []).append(float(row["seconds"] or 0.0))

    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.array([])

    return NightData(
        night=night,
        hours=joined(hours),
        mags={k: joined(v) for k, v in mags.items()},
        ra=joined(ras),
        dec=joined(decs),
        classes=classes,
        rejects=reasons,
        latency_s=joined(latency),
        stage_seconds=stage_seconds,
    )


def _record_status(settings: Settings, result: QualityResult) -> None:
    """Replace the night's row of gold.night_status (one atomic Delta commit)."""
    from deltalake import write_deltalake

    from siskin.lake.transactions import ensure_table

    uri = NIGHT_STATUS.path(settings.lake_uri)
    ensure_table(uri, NIGHT_STATUS_SCHEMA, (), NIGHT_STATUS.description)
    row = pa.table(
        {
            "night": [result.night],
            "status": [result.status],
            "checked_at": [datetime.now(UTC)],
            "expectations": [len(result.outcomes)],
            "failed": [len(result.failures)],
            "failures": [[o.describe() for o in result.failures]],
            "alerts": [result.alerts],
            "rejects": [result.rejects],
            "report": [result.report],
            "siskin_version": [__version__],
        },
        schema=NIGHT_STATUS_SCHEMA,
    )
    write_deltalake(uri, row, mode="overwrite", predicate=f"night = {int(result.night)}")
    from siskin.lake.transactions import forget_table

    forget_table(uri)


@dataclass
class NightInputs:
    """The night's suites with their data, the frames read, and the counts the night suite needs."""

    batches: list[Batch]
    frames: dict[str, pa.Table]
    alerts: int
    rejects: int
    per_night: dict[int, int]


def build_batches(settings: Settings, night: int) -> NightInputs:
    """Read the night's bronze, survey silver and gold rows and pair each with its suite."""
    batches: list[Batch] = []
    frames: dict[str, pa.Table] = {}
    bronze = lake_data.bronze_frame(settings, night)
    if bronze is not None and bronze.num_rows:
        batches.append(Batch("bronze.alerts", bronze.to_pandas(), suites.bronze_checks()))
    alerts = 0
    per_night: dict[int, int] = {}
    for spec in catalog.tables(layer="silver"):
        if spec.survey is None or spec.writer != "silver" or not spec.key:
            continue
        for n, c in lake_data.night_counts(settings, spec.name).items():
            per_night[n] = per_night.get(n, 0) + c
        table = lake_data.read_night(settings, spec.name, night, suites.silver_columns(spec))
        if table is None or table.num_rows == 0:
            continue
        alerts += table.num_rows
        frame = table.to_pandas()
        if "quality_ok" in frame:
            frame["quality_ok"] = frame["quality_ok"].astype(float)
        batches.append(Batch(spec.name, frame, suites.silver_checks(spec, settings, night)))
    gold = catalog.table("gold.objects")
    names = gold.arrow_schema().names
    gold_cols = [*gold.key, *(c for c in suites.CLASS_COLUMNS if c in names)]
    objects = lake_data.read_night(settings, "gold.objects", night, gold_cols, night_column="last_night")
    if objects is not None and objects.num_rows:
        frames["gold.objects"] = objects
        checks = suites.gold_checks(gold, settings, gold_cols)
        frame = objects.to_pandas()
        for column in suites.CLASS_COLUMNS:
            if column in objects.column_names:
                frame["class_family"] = suites.class_family(objects.column(column), settings).to_pandas()
                break
        batches.append(Batch("gold.objects", frame, checks))
    rejects = lake_data.night_counts(settings, "silver.rejects").get(night, 0)
    return NightInputs(batches, frames, alerts, rejects, per_night)


def calendar_trailing(counts: dict[int, int], night: int, trailing: int) -> list[int]:
    """Rows of each of the `trailing` calendar nights before `night` (0 for a night without data)."""
    from datetime import date, timedelta

    day = date(night // 10000, night // 100 % 100, night % 100)
    before = [day - timedelta(days=i) for i in range(1, trailing + 1)]
    return [int(counts.get(int(d.strftime("%Y%m%d")), 0)) for d in before]


def empty_night(settings: Settings, night: int, per_night: dict[int, int], began: float) -> QualityResult:
    """The verdict on a night without any input (bronze and silver empty).

    A survey has nights without alerts (weather, the telescope down): `no_data`, recorded, not a failure.
    But when most of the trailing calendar nights had alerts (their median, empty nights counting 0, is
    above zero), tonight's volume ratio is 0, below `volume_ratio_range`: the ingestion may be broken, so
    the night is `suspect` and QualityError is raised, as for any failed check. Nothing is deleted."""
    dq = settings.data_quality
    trailing = calendar_trailing(per_night, night, dq.volume_trailing_nights)
    median = float(statistics.median(trailing))
    lo, hi = dq.volume_ratio_range
    outcomes: list[Outcome] = []
    status = "no_data"
    if median > 0 and lo > 0:
        status = "suspect"
        had = sum(1 for n in trailing if n)
        outcomes.append(
            Outcome(
                "night",
                "ExpectColumnValuesToBeBetween",
                "volume_ratio",
                False,
                f"no alert in bronze or silver, while {had} of the {len(trailing)} previous nights had some "
                f"(median {median:.0f}): volume ratio 0, outside [{lo}, {hi}]",
            )
        )
    result = QualityResult(
        night=night,
        status=status,
        outcomes=outcomes,
        report="",
        data_docs="",
        alerts=0,
        rejects=0,
        seconds=time.monotonic() - began,
        notes=[f"no data for night {night}; trailing {len(trailing)} nights: {trailing} (median {median:g})"],
    )
    _record_status(settings, result)
    if status != "no_data":
        raise QualityError(
            f"night {night} is suspect: {outcomes[0].observed}; the telescope may not have observed, or the "
            "ingestion is broken; recorded in gold.night_status, nothing deleted",
            result,
        )
    return result


def run_night(settings: Settings, night: int, *, empty_ok: bool = False) -> QualityResult:
    """Check one night; record ok/suspect in gold.night_status; write Data Docs and the nightly report.

    A night without any data is an error, unless `empty_ok` (the nightly DAG): then `empty_night` gives
    the verdict (`no_data`, or `suspect` when the trailing nights had data)."""
    from siskin.exports.run import check_night

    began = time.monotonic()
    night = check_night(night)
    inputs = build_batches(settings, night)
    batches, frames, alerts, rejects = inputs.batches, inputs.frames, inputs.alerts, inputs.rejects
    if not batches and empty_ok and rejects == 0:
        return empty_night(settings, night, inputs.per_night, began)
    if not batches:
        raise LakeError(f"night {night} has no data in the lake at {settings.lake_uri}: nothing to check")
    ratio, median = volume(inputs.per_night, night, settings.data_quality.volume_trailing_nights)
    notes = [] if median is not None else ["volume: no earlier night to compare with (ratio taken as 1)"]
    import pandas as pd

    summary = pd.DataFrame(
        {
            "night": [night],
            "alerts": [alerts],
            "trailing_median": [median],
            "volume_ratio": [ratio],
            "reject_fraction": [rejects / (alerts + rejects) if alerts + rejects else 0.0],
        }
    )
    batches.append(Batch("night", summary, suites.night_checks(settings)))
    report_root = _reports_root(settings, night)
    with tempfile.TemporaryDirectory(prefix="siskin-quality-") as tmp:
        local = Path(tmp) / "report"
        docs = local / "data_docs"
        outcomes = validate(batches, docs, run_name=str(night))
        make_offline(docs, outcomes, night)
        status = "suspect" if any(not o.success for o in outcomes) else "ok"
        night_data = _night_data(settings, night, frames)
        night_data.extra = {
            "alerts (silver)": alerts,
            "rejects": rejects,
            "volume vs trailing median": f"{ratio:.2f}" + ("" if median is not None else " (no history)"),
        }
        (local / "report.html").write_text(
            render(night_data, outcomes, status, "data_docs/index.html"), encoding="utf-8"
        )
        _publish(local, report_root)
    result = QualityResult(
        night=night,
        status=status,
        outcomes=outcomes,
        report=f"{report_root}/report.html",
        data_docs=f"{report_root}/data_docs/index.html",
        alerts=alerts,
        rejects=rejects,
        seconds=time.monotonic() - began,
        notes=notes,
    )
    _record_status(settings, result)
    if status != "ok":
        failed = "; ".join(o.describe() for o in result.failures)
        raise QualityError(
            f"night {night} is suspect ({len(result.failures)} of {len(outcomes)} checks failed: {failed}); "
            f"recorded in gold.night_status, data kept; report: {result.report}",
            result,
        )
    return result
