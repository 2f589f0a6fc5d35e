"""Reclassification of history: every night in a range replayed through the current science modules.

A new model or rules version changes the scores and classes silver holds. Reclassifying a night is
a replay of it (`siskin.ops.replay`): its silver rows are decoded again from bronze, so every enabled
module runs with its current version, the affected objects' gold rows are recomputed, and each
object whose class (or the rules' version giving it) changed gets a `gold.class_history` row marked
`reclassify`, the previous ones kept. Crash-safe and idempotent per night, like a replay.

A replay needs the silver and gold leases, which the streams hold while they run. Most nights need no
replay: `night_scoring` reads the night's `<module>_version` columns and tells whether every row was
scored by the current version of every enabled module (a null version: the module failed on that batch)
and after the last load of any reference catalog (the catalog-label modules read `catalogs.<name>`
when they score). Such a night is skipped without a lease, a Spark session or a write; `force` replays
it anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings
from siskin.errors import SiskinError
from siskin.ops.replay import ReplayReport, replay_night, unfinished_replays
from siskin.pipeline.lakehouse import Lakehouse


def bronze_nights(settings: Settings, first: int, last: int) -> list[int]:
    """The nights in [first, last] for which bronze holds input."""
    from siskin.lake.catalog import table
    from siskin.lake.transactions import open_table

    delta = open_table(table("bronze.alerts").path(settings.lake_uri))
    if delta is None:
        return []
    nights = delta.to_pyarrow_dataset().to_table(
        columns=["night"], filter=(pc.field("night") >= first) & (pc.field("night") <= last)
    )
    return sorted({int(n) for n in pc.unique(nights.column("night")).to_pylist()})


@dataclass
class NightScoring:
    """Whether a night's silver rows carry the current scores: what would have to be redone, and why."""

    night: int
    alerts: int = 0  # silver rows of the night, every survey
    # "<table>.<module>_version: <why>" -> rows concerned (null = the module failed on that batch)
    stale: dict[str, int] = field(default_factory=dict)
    catalogs_changed: list[str] = field(default_factory=list)  # loaded after some of the night was scored
    unfinished_replay: bool = False

    @property
    def current(self) -> bool:
        """True when nothing needs rescoring: the night may be skipped."""
        return not self.stale and not self.catalogs_changed and not self.unfinished_replay

    def reasons(self) -> list[str]:
        """Why the night must be rescored, one line per cause (empty when it is current)."""
        out = [f"{what} ({rows} rows)" for what, rows in sorted(self.stale.items())]
        out += [
            f"catalog {name} loaded after rows of the night were scored" for name in self.catalogs_changed
        ]
        if self.unfinished_replay:
            out.append("an earlier replay of the night did not finish")
        return out


def enabled_versions(settings: Settings, survey: str) -> dict[str, str]:
    """`<module>_version` column -> the current version, for the survey's enabled modules."""
    from siskin.science.registry import available

    known = available(survey)
    names = list(known) if settings.science.modules is None else settings.science.modules
    return {f"{n}_version": known[n].version for n in names if n in known}


def _catalog_refresh_margin(settings: Settings, survey: str) -> timedelta:
    """How long a worker may keep scoring with a catalog's previous version after it is reloaded: the
    longest `refresh_seconds` among the survey's enabled modules' configs (the catalog-label modules
    cache catalogs that long)."""
    from siskin.science.registry import available

    seconds = 0.0
    for name, cls in available(survey).items():
        if settings.science.modules is not None and name not in settings.science.modules:
            continue
        config = cls.Config.model_validate(dict(settings.science.module_config.get(name, {})))
        seconds = max(seconds, float(getattr(config, "refresh_seconds", 0.0) or 0.0))
    return timedelta(seconds=seconds)


def _catalog_loads(settings: Settings) -> dict[str, datetime]:
    """When each loaded reference catalog was last (re)loaded."""
    from siskin.science.xmatch.catalogs import list_catalogs

    index = list_catalogs(settings)
    return {
        str(n): t
        for n, t in zip(index.column("name").to_pylist(), index.column("load_time").to_pylist(), strict=True)
        if t is not None
    }


def night_scoring(settings: Settings, night: int) -> NightScoring:
    """Read (only) the night's version and `processed_at` columns of each survey's silver table."""
    from siskin.lake.catalog import tables
    from siskin.lake.transactions import open_table

    result = NightScoring(int(night), unfinished_replay=int(night) in unfinished_replays(settings.lake_uri))
    loads = _catalog_loads(settings)
    changed: set[str] = set()
    for spec in tables(writer="silver"):
        if spec.survey is None:
            continue
        delta = open_table(spec.path(settings.lake_uri))
        if delta is None:
            continue
        dataset = delta.to_pyarrow_dataset()
        versions = enabled_versions(settings, spec.survey)
        present = [c for c in versions if c in dataset.schema.names]
        data = dataset.to_table(columns=[*present, "processed_at"], filter=pc.field("night") == int(night))
        if data.num_rows == 0:
            continue
        result.alerts += data.num_rows
        for column, version in versions.items():
            if column not in present:
                result.stale[f"{spec.name}.{column}: column absent"] = data.num_rows
                continue
            values = data.column(column)
            if values.null_count:
                result.stale[f"{spec.name}.{column}: null (module failed)"] = values.null_count
            old = int(pc.sum(pc.not_equal(values, pa.scalar(version))).as_py() or 0)
            if old:
                result.stale[f"{spec.name}.{column}: not {version}"] = old
        first: datetime | None = pc.min(data.column("processed_at")).as_py()
        if first is not None and loads:
            margin = _catalog_refresh_margin(settings, spec.survey)
            changed.update(name for name, loaded in loads.items() if loaded + margin > first)
    result.catalogs_changed = sorted(changed)
    return result


@dataclass
class ReclassifyResult:
    """The nights replayed (with their reports), the nights skipped as current, and why each was replayed."""

    replayed: list[ReplayReport] = field(default_factory=list)
    skipped: list[NightScoring] = field(default_factory=list)
    reasons: dict[int, list[str]] = field(default_factory=dict)
    leases_taken: bool = False


def reclassify(settings: Settings, first: int, last: int, *, force: bool = False) -> ReclassifyResult:
    """Replay every night of [first, last] that bronze holds and whose scores are not current (every
    such night with `force`), oldest first; errs when bronze holds none. Only a replay takes the silver
    and gold leases (LeaseHeldError naming the holder while a stream holds them)."""
    if first > last:
        raise SiskinError(f"the range is empty: {first} > {last} (nights are YYYYMMDD)")
    nights = bronze_nights(settings, first, last)
    if not nights:
        raise SiskinError(f"bronze holds no night between {first} and {last}: nothing to reclassify")
    result = ReclassifyResult()
    todo: list[int] = []
    for night in nights:
        scoring = night_scoring(settings, night)
        if scoring.current and not force:
            result.skipped.append(scoring)
            continue
        todo.append(night)
        result.reasons[night] = scoring.reasons() or ["--force"]
    if todo:
        from siskin.ops.lease import acquire

        # the leases before Spark starts: a held lease fails at once, naming its holder; the replay's
        # Lakehouse then takes them over from this same process (a holder of this pid is ours)
        first_taken = acquire(
            settings.lake_uri, ["silver", "gold"], f"siskin reclassify {todo[0]}..{todo[-1]}"
        )
        result.leases_taken = True
        try:
            house = Lakehouse(settings)
            try:
                result.replayed = [replay_night(house, night) for night in todo]
            finally:
                house.release()
        finally:
            for lease in first_taken:
                lease.release()  # a no-op where the Lakehouse took it over (it released its own)
    return result
