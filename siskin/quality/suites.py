"""The expectation suites, per layer, derived from the table catalog and `[data_quality]` settings.

Bronze: payload present (or its absence explained), unique source position. Survey silver tables: the
catalog key unique, coordinates in range, magnitudes and errors in range, filters in the known set,
times within the night, the fraction passing the quality cuts. Gold: one row per catalog key, classes in
the taxonomy (when the class column exists). The night: volume against the trailing median, rejects.
Each expectation applies only to columns the table has, so one definition serves ZTF and Rubin.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import Settings
from siskin.lake import catalog
from siskin.quality.data import night_jd_range

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TAXONOMY = ROOT.parent / "shared" / "data" / "taxonomy" / "fink_types.csv"
CLASS_COLUMNS = ("last_class", "class")
MJD_OFFSET = 2400000.5
TAI_MINUS_UTC_DAYS = 37.0 / 86400.0
UNKNOWN = "Unknown"  # the class rules' "no class"


@dataclass(frozen=True)
class Check:
    """One expectation, GX-independent: its GX class name and keyword arguments."""

    kind: str
    kwargs: dict[str, Any]


def taxonomy(settings: Settings) -> list[str] | None:
    """The known class names (one per line), or None when no taxonomy file is available."""
    path = Path(settings.data_quality.taxonomy) if settings.data_quality.taxonomy else DEFAULT_TAXONOMY
    if not path.is_file():
        return None
    with path.open(newline="") as fh:
        return [row[0].strip() for row in csv.reader(fh) if row and row[0].strip()]


def bronze_checks() -> list[Check]:
    return [
        Check("ExpectColumnValuesToBeInSet", {"column": "payload_present", "value_set": [True]}),
        Check("ExpectColumnValuesToBeUnique", {"column": "source_position"}),
    ]


def silver_columns(spec: catalog.TableSpec) -> list[str]:
    """Columns of a survey table the silver checks read."""
    wanted = ["ra", "dec", "magpsf", "sigmapsf", "fid", "jd", "midpointMjdTai", "band", "quality_ok"]
    names = spec.arrow_schema().names
    return list(dict.fromkeys([*spec.key, *(c for c in wanted if c in names)]))


def silver_checks(spec: catalog.TableSpec, settings: Settings, night: int) -> list[Check]:
    """Checks of one survey's silver table for one night (only on the columns it has)."""
    dq = settings.data_quality
    names = set(spec.arrow_schema().names)
    checks = [
        Check("ExpectColumnValuesToBeUnique", {"column": k}) for k in spec.key[:1] if len(spec.key) == 1
    ]
    if len(spec.key) > 1:
        checks.append(Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(spec.key)}))
    between: list[tuple[str, float, float, bool]] = [
        ("ra", 0.0, 360.0, True),
        ("dec", -90.0, 90.0, False),
        ("magpsf", *dq.magpsf_range, False),
        ("sigmapsf", *dq.sigmapsf_range, False),
    ]
    start, end = night_jd_range(night)
    between.append(("jd", start, end, True))
    # Rubin dayObs: the UTC date 12 h before the (TAI) time; TAI is 37 s ahead of UTC
    rubin_start = start - MJD_OFFSET + 0.5
    between.append(("midpointMjdTai", rubin_start, rubin_start + 1.0 + TAI_MINUS_UTC_DAYS, True))
    for column, lo, hi, strict_max in between:
        if column in names:
            kwargs: dict[str, Any] = {"column": column, "min_value": lo, "max_value": hi}
            if strict_max:
                kwargs["strict_max"] = True
            checks.append(Check("ExpectColumnValuesToBeBetween", kwargs))
            checks.append(Check("ExpectColumnValuesToNotBeNull", {"column": column}))
    if "fid" in names:
        checks.append(Check("ExpectColumnValuesToBeInSet", {"column": "fid", "value_set": list(dq.fids)}))
    if "quality_ok" in names:
        checks.append(
            Check(
                "ExpectColumnMeanToBeBetween",
                {"column": "quality_ok", "min_value": dq.min_quality_ok_fraction, "max_value": 1.0},
            )
        )
    return checks


def simbad_labels(settings: Settings) -> set[str]:
    """SIMBAD object types (codes, old and new labels) a class may carry when SIMBAD names the object.

    From `simbad_otypes_old_new.csv` beside the taxonomy file when present, plus the label sets the class
    rules ship (`siskin.science.classes.labels`).
    """
    labels: set[str] = set()
    path = Path(settings.data_quality.taxonomy) if settings.data_quality.taxonomy else DEFAULT_TAXONOMY
    table = path.parent / "simbad_otypes_old_new.csv"
    if table.is_file():
        with table.open(newline="") as fh:
            for row in csv.DictReader(fh):
                labels.update(v.strip() for v in row.values() if v and v.strip())
    try:
        from siskin.science.classes import labels as shipped

        labels |= (
            set(shipped.EG_HOST_LABELS) | set(shipped.SIMBAD_VARIABLE_STARS) | set(shipped.SIMBAD_NO_MATCH)
        )
    except ImportError:  # the class rules are not installed
        pass
    return labels


def class_family(classes: pa.ChunkedArray | pa.Array, settings: Settings) -> pa.Array:
    """Each class as the suite checks it: a taxonomy name as itself, a SIMBAD type as `SIMBAD label`,
    a variable-star catalog label `(VSX) ..`/`(GCVS) ..` as `catalog label`; anything else unchanged."""
    known = pa.array(sorted(set(taxonomy(settings) or []) | {UNKNOWN}), pa.string())
    simbad = pa.array(sorted(simbad_labels(settings)), pa.string())
    text = pc.cast(classes, pa.string())
    out = pc.if_else(pc.match_substring_regex(text, r"^\((VSX|GCVS)\) "), "catalog label", text)
    out = pc.if_else(pc.and_(pc.is_in(text, simbad), pc.invert(pc.is_in(text, known))), "SIMBAD label", out)
    return pa.concat_arrays(out.chunks) if isinstance(out, pa.ChunkedArray) else out


def gold_checks(spec: catalog.TableSpec, settings: Settings, columns: list[str]) -> list[Check]:
    """One row per key; classes in the taxonomy when a class column and a taxonomy exist.

    The class is checked through `class_family` (a column the gold frame carries when a class column exists).
    """
    checks = [Check("ExpectCompoundColumnsToBeUnique", {"column_list": list(spec.key)})]
    known = taxonomy(settings)
    if known is not None and any(c in columns for c in CLASS_COLUMNS):
        families = sorted({*known, UNKNOWN, "SIMBAD label", "catalog label"})
        checks.append(Check("ExpectColumnValuesToBeInSet", {"column": "class_family", "value_set": families}))
    return checks


def night_checks(settings: Settings) -> list[Check]:
    """Checks on the night's one-row summary: volume ratio to the trailing median, reject fraction."""
    dq = settings.data_quality
    lo, hi = dq.volume_ratio_range
    return [
        Check("ExpectColumnValuesToBeBetween", {"column": "volume_ratio", "min_value": lo, "max_value": hi}),
        Check(
            "ExpectColumnValuesToBeBetween",
            {"column": "reject_fraction", "min_value": 0.0, "max_value": dq.max_reject_fraction},
        ),
    ]


EXAMPLE_NIGHT = 20260101


def suite_documents(settings: Settings, night: int = EXAMPLE_NIGHT) -> dict[str, Any]:
    """Every suite as JSON-ready data (what `expectations/suites.json` holds, for one example night)."""
    out: dict[str, Any] = {"bronze.alerts": bronze_checks()}
    for spec in catalog.tables(layer="silver"):
        if spec.survey is not None and spec.writer == "silver" and spec.key:
            out[spec.name] = silver_checks(spec, settings, night)
    gold = catalog.table("gold.objects")
    out[gold.name] = gold_checks(gold, settings, gold.arrow_schema().names)
    out["night"] = night_checks(settings)
    return {
        "generated_by": "python -m siskin.quality.suites > expectations/suites.json",
        "example_night": night,
        "suites": {
            name: [{"expectation": c.kind, **c.kwargs} for c in checks] for name, checks in out.items()
        },
    }


if __name__ == "__main__":
    import json

    print(json.dumps(suite_documents(Settings(lake="lake")), indent=2))
