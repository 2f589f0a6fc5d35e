"""The ordered class rules: one table, read top to bottom, the first rule that fires names the class.

This follows the reference broker (Fink, `fink_filters/ztf/classification.py`
`extract_fink_classification_` and the livestream filters it calls; fink-filters 7.45). The broker
applies its masks bottom-up (later wins) and then lets SIMBAD override; written as a precedence list
that is, highest first:

  1. SIMBAD label          cdsxmatch is a real match (not Unknown/Transient/Fail*, not Galaxy*)
  2. variable-star catalog  VSX stellar type or GCVS type (Siskin's addition, `variable_star_override`)
  3. Ambiguous             two or more of: Microlensing, SN, Solar System candidate, Solar System MPC
  4. Solar System MPC      roid == 3
  5. Tracklet              tracklet id starts with TRCK_
  6. Solar System candidate roid == 2
  7. Kilonova candidate    rf_kn_vs_nonkn > 0.5, real, young (< 5 d), few detections, extragalactic
  8. Early SN Ia candidate snn Ia or SN > 0.5 and rf_snia_vs_nonia > 0.5, real, ndethist <= 20
  9. SN candidate          snn Ia or SN > 0.5, real, < 90 d old, seen before, not a known asteroid
 10. Microlensing candidate mulens > 0 (a label: "ML"; the older struct form: both bands "ML")
  -  Unknown               nothing fired

"Real" is `drb > 0.5` and `classtar > 0.4`; "extragalactic" is a SIMBAD label in `EG_HOST_LABELS`
(which includes no match). Numbers compare as float64 with nulls as NaN, exactly as the broker's
pandas code: `>`, `<`, `==` are false on a missing value, `!=` is true.

A rule's inputs are named columns. Those in `needs` must all be present, at least one of `needs_any`
(when given) must be: otherwise the rule does not fire at all and `classify` reports it as skipped,
never as a silent zero (the `snn` module gives the SN and Early SN Ia rules their `snn_*` scores, the
`kilonova` module the Kilonova rule its `rf_kn_vs_nonkn`; Siskin has no tracklet module yet, so the
Tracklet rule is skipped in the pipeline until a module produces `tracklet`).
Bump `RULES_VERSION` whenever a rule or a default threshold changes: it is the classification
module's version, stored next to every class.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science.base import ModuleConfig, ScienceError
from siskin.science.classes.labels import EG_HOST_LABELS, SIMBAD_NO_MATCH, VSX_STELLAR
from siskin.science.paths import input_column, input_type

RULES_VERSION = "1.0.0"
UNKNOWN = "Unknown"
AMBIGUOUS = "Ambiguous"


class ClassConfig(ModuleConfig):
    """Thresholds of the rules (defaults: the reference broker's)."""

    sn_min_score: float = 0.5  # snn_snia_vs_nonia or snn_sn_vs_all above this
    early_ia_min_score: float = 0.5  # rf_snia_vs_nonia above this
    early_max_ndethist: int = 20
    min_drb: float = 0.5
    min_classtar: float = 0.4
    sn_max_age_days: float = 90.0  # jd - jdstarthist
    kn_min_score: float = 0.5
    kn_max_age_days: float = 5.0
    kn_max_ndethist: int = 20
    mulens_min: float = 0.0  # a numeric mulens above this; a label mulens must be one of mulens_labels
    mulens_labels: tuple[str, ...] = ("ML",)
    tracklet_prefix: str = Field(default="TRCK_", min_length=1)
    variable_star_override: bool = True  # False: the reference broker's behaviour (SIMBAD only)


class Columns:
    """Named input columns of a batch, read the way the rules compare them."""

    def __init__(self, batch: pa.Table) -> None:
        self.batch = batch
        self.n = batch.num_rows

    def has(self, name: str) -> bool:
        """Whether the batch carries the column."""
        return input_type(self.batch.schema, name) is not None

    def array(self, name: str) -> pa.Array:
        """The column as one Arrow array (all null when absent)."""
        values = input_column(self.batch, name)
        return pa.nulls(self.n, pa.string()) if values is None else values

    def number(self, name: str) -> np.ndarray:
        """The column as float64, NaN for null or absent (string columns: numbers parsed, else NaN)."""
        values = self.array(name)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            return _parse_floats(values)
        if not (
            pa.types.is_integer(values.type)
            or pa.types.is_floating(values.type)
            or pa.types.is_null(values.type)
        ):
            raise ScienceError(f"class rules read {name!r} as a number; the batch has {values.type}")
        return pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)

    def text(self, name: str) -> pa.Array:
        """The column as strings (null where absent)."""
        values = self.array(name)
        return values if pa.types.is_string(values.type) else pc.cast(values, pa.string())

    def isin(self, name: str, labels: frozenset[str]) -> np.ndarray:
        """Whether each value is one of `labels` (null: no)."""
        found = pc.is_in(self.text(name), value_set=pa.array(sorted(labels), pa.string()))
        return _bools(found)

    def startswith(self, name: str, prefix: str) -> np.ndarray:
        """Whether each value starts with `prefix` (null: no)."""
        return _bools(pc.starts_with(self.text(name), pattern=prefix))


def _bools(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean Arrow column as numpy, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _parse_floats(values: pa.Array) -> np.ndarray:
    """Strings that are numbers as float64, the others NaN."""
    numeric = pc.match_substring_regex(values, r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
    kept = pc.if_else(pc.fill_null(numeric, False), values, None)
    return pc.cast(kept, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)


Fired = Mapping[str, np.ndarray]
Condition = Callable[[Columns, ClassConfig, Fired], np.ndarray]
Labeller = Callable[[Columns], pa.Array]


@dataclass(frozen=True)
class Rule:
    """One class rule: the class it gives, when it fires, what it reads, and why."""

    name: str  # the class (a taxonomy name), or what the label column holds for catalog overrides
    doc: str
    when: Condition
    needs: tuple[str, ...] = ()  # every one must be present or the rule does not fire
    needs_any: tuple[str, ...] = ()  # at least one must be present (absent ones read as null)
    label: Labeller | None = None  # per-row label (catalog overrides); default: `name`
    enabled: Callable[[ClassConfig], bool] = field(default=lambda c: True)

    def missing(self, columns: Columns) -> list[str]:
        """The inputs whose absence stops this rule (empty: it runs)."""
        gaps = [n for n in self.needs if not columns.has(n)]
        if self.needs_any and not any(columns.has(n) for n in self.needs_any):
            gaps.append(" or ".join(self.needs_any))
        return gaps


# ---------------------------------------------------------------- the conditions, one per rule


def simbad_match(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """A SIMBAD counterpart: a label that is not a no-match or failure value, nor a (static) galaxy."""
    matched = ~cols.isin("cdsxmatch", SIMBAD_NO_MATCH) & cols.array("cdsxmatch").is_valid().to_numpy(
        zero_copy_only=False
    )
    return matched & ~cols.startswith("cdsxmatch", "Fail") & ~cols.startswith("cdsxmatch", "Galaxy")


def _catalog_matched(cols: Columns, name: str) -> np.ndarray:
    """A catalog label present: not null, empty, Unknown, nan or a failure."""
    text = pc.utf8_trim_whitespace(cols.text(name))
    empty = cols.isin(name, frozenset({"", UNKNOWN, "nan", "None"})) | _bools(pc.equal(text, ""))
    return text.is_valid().to_numpy(zero_copy_only=False) & ~empty & ~cols.startswith(name, "Fail")


def is_vsx_stellar(label: str) -> bool:
    """A VSX type string names a stellar variable: every alternative (`|`, `+`) is a stellar type, once
    uncertainty marks (`:`) and subtypes (`EA/SD` is EA) are set aside."""
    parts = [p.strip().rstrip(":").strip() for p in re.split(r"[|+]", label)]
    parts = [p for p in parts if p]
    return bool(parts) and all(p in VSX_STELLAR or p.split("/")[0] in VSX_STELLAR for p in parts)


def vsx_stellar(cols: Columns) -> np.ndarray:
    """Whether each `vsx` label is a stellar type (decided once per distinct label, not per alert)."""
    encoded = pc.dictionary_encode(cols.text("vsx"))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    verdicts = np.array([is_vsx_stellar(v) for v in encoded.dictionary.to_pylist()] + [False], dtype=bool)
    indices = pc.fill_null(encoded.indices, len(encoded.dictionary)).to_numpy(zero_copy_only=False)
    return verdicts[indices]


def variable_star(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """A VSX match of a stellar variability type, or any GCVS match."""
    vsx = vsx_stellar(cols) if cols.has("vsx") else np.zeros(cols.n, bool)
    gcvs = _catalog_matched(cols, "gcvs") if cols.has("gcvs") else np.zeros(cols.n, bool)
    return vsx | gcvs


def variable_star_label(cols: Columns) -> pa.Array:
    """'(VSX) <type>' where VSX matched a stellar type, else '(GCVS) <type>' (the broker's '(TNS) ' style)."""
    vsx = pc.binary_join_element_wise("(VSX) ", cols.text("vsx"), "")
    gcvs = pc.binary_join_element_wise("(GCVS) ", cols.text("gcvs"), "")
    return pc.if_else(pa.array(vsx_stellar(cols)), vsx, gcvs)


AMBIGUITY_FROM = ("Microlensing candidate", "SN candidate", "Solar System candidate", "Solar System MPC")


def ambiguous(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """Two or more of the rules in `AMBIGUITY_FROM` fired: no single one can be trusted."""
    return sum((fired[name].astype(np.int8) for name in AMBIGUITY_FROM), np.zeros(cols.n, np.int8)) > 1


def roid_is(value: int) -> Condition:
    """The solar-system flag equals `value`."""

    def check(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
        return cols.number("roid") == value

    return check


def tracklet(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """Part of a fast-moving streak (satellite glint, debris) identified by a tracklet id."""
    return cols.startswith("tracklet", c.tracklet_prefix)


def real(cols: Columns, c: ClassConfig) -> np.ndarray:
    """Deep real-bogus and star/galaxy scores above the broker's floors."""
    return (cols.number("drb") > c.min_drb) & (cols.number("classtar") > c.min_classtar)


def extragalactic(cols: Columns) -> np.ndarray:
    """The SIMBAD label allows an extragalactic transient (including no match)."""
    return cols.isin("cdsxmatch", EG_HOST_LABELS)


def sn_scored(cols: Columns, c: ClassConfig) -> np.ndarray:
    """Either SuperNNova score above the floor."""
    return (cols.number("snn_snia_vs_nonia") > c.sn_min_score) | (
        cols.number("snn_sn_vs_all") > c.sn_min_score
    )


def age_days(cols: Columns) -> np.ndarray:
    """Days since ZTF's first detection at this position."""
    return cols.number("jd") - cols.number("jdstarthist")


def kilonova(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """Kilonova score, real, young, few detections, not a known asteroid, extragalactic."""
    return (
        (cols.number("rf_kn_vs_nonkn") > c.kn_min_score)
        & real(cols, c)
        & (age_days(cols) < c.kn_max_age_days)
        & (cols.number("roid") != 3)
        & (cols.number("ndethist") < c.kn_max_ndethist)
        & extragalactic(cols)
    )


def early_sn_ia(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """SN-like by SuperNNova, Ia-like early by the random forest, real, extragalactic, few detections."""
    return (
        sn_scored(cols, c)
        & extragalactic(cols)
        & real(cols, c)
        & (cols.number("ndethist") <= c.early_max_ndethist)
        & (cols.number("rf_snia_vs_nonia") > c.early_ia_min_score)
    )


def supernova(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """SN-like by SuperNNova, real, extragalactic, under 90 days, seen before, not a known asteroid."""
    return (
        sn_scored(cols, c)
        & extragalactic(cols)
        & (age_days(cols) <= c.sn_max_age_days)
        & real(cols, c)
        & (cols.number("ndethist") > 1)
        & (cols.number("roid") != 3)
    )


def microlensing(cols: Columns, c: ClassConfig, fired: Fired) -> np.ndarray:
    """The microlensing score is positive (both bands favour microlensing), or its label says so."""
    values = cols.array("mulens")
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return cols.isin("mulens", frozenset(c.mulens_labels))
    if pa.types.is_struct(values.type):  # the broker's older per-band form: both bands classed ML
        bands = [f"mulens.class_{i}" for i in (1, 2)]
        if not all(cols.has(b) for b in bands):
            raise ScienceError(f"mulens is {values.type}: a struct needs class_1 and class_2")
        return cols.isin(bands[0], frozenset(c.mulens_labels)) & cols.isin(
            bands[1], frozenset(c.mulens_labels)
        )
    return cols.number("mulens") > c.mulens_min


REAL = ("drb", "classtar")
SNN = ("snn_snia_vs_nonia", "snn_sn_vs_all")

# Highest precedence first: the first rule that fires gives the class.
RULES: tuple[Rule, ...] = (
    Rule(
        "SIMBAD label",
        "A SIMBAD counterpart within 1\" names the object (the broker's `simbad_candidates_`).",
        simbad_match,
        needs=("cdsxmatch",),
        label=lambda cols: cols.text("cdsxmatch"),
    ),
    Rule(
        "Variable-star catalog label",
        "A VSX (stellar type) or GCVS counterpart names the object, as '(VSX) EW' or '(GCVS) RRAB'.",
        variable_star,
        needs_any=("vsx", "gcvs"),
        label=variable_star_label,
        enabled=lambda c: c.variable_star_override,
    ),
    Rule(AMBIGUOUS, "Several of microlensing, SN and solar-system fired.", ambiguous),
    Rule("Solar System MPC", "A known minor planet (roid 3).", roid_is(3), needs=("roid",)),
    Rule("Tracklet", "A fast-moving streak (tracklet id TRCK_*).", tracklet, needs=("tracklet",)),
    Rule("Solar System candidate", "A solar-system candidate (roid 2).", roid_is(2), needs=("roid",)),
    Rule(
        "Kilonova candidate",
        kilonova.__doc__ or "",
        kilonova,
        needs=("rf_kn_vs_nonkn", *REAL, "jd", "jdstarthist", "ndethist", "roid", "cdsxmatch"),
    ),
    Rule(
        "Early SN Ia candidate",
        early_sn_ia.__doc__ or "",
        early_sn_ia,
        needs=("rf_snia_vs_nonia", *REAL, "ndethist", "cdsxmatch"),
        needs_any=SNN,
    ),
    Rule(
        "SN candidate",
        supernova.__doc__ or "",
        supernova,
        needs=(*REAL, "jd", "jdstarthist", "ndethist", "roid", "cdsxmatch"),
        needs_any=SNN,
    ),
    Rule("Microlensing candidate", microlensing.__doc__ or "", microlensing, needs=("mulens",)),
)


def rule_inputs() -> tuple[str, ...]:
    """Every column any rule reads, sorted."""
    names = {n for rule in RULES for n in (*rule.needs, *rule.needs_any)}
    return tuple(sorted(names))


@dataclass
class Classification:
    """The class per alert, and per rule: where it fired, and what it lacked if it could not run."""

    labels: pa.Array
    fired: dict[str, np.ndarray]
    skipped: dict[str, list[str]]
    disabled: list[str]


def classify(
    batch: pa.Table, config: ClassConfig | None = None, rules: Sequence[Rule] = RULES
) -> Classification:
    """Every rule over whole columns, then the class of each alert from the highest rule that fired."""
    c = config or ClassConfig()
    cols = Columns(batch)
    fired: dict[str, np.ndarray] = {}
    skipped: dict[str, list[str]] = {}
    disabled: list[str] = []
    for rule in reversed(rules):  # lowest first: Ambiguous reads the rules below it
        gaps = rule.missing(cols)
        if not rule.enabled(c):
            disabled.append(rule.name)
            fired[rule.name] = np.zeros(cols.n, bool)
        elif gaps:
            skipped[rule.name] = gaps
            fired[rule.name] = np.zeros(cols.n, bool)
        else:
            fired[rule.name] = np.asarray(rule.when(cols, c, fired), dtype=bool)
    labels: pa.Array = pa.repeat(pa.scalar(UNKNOWN, pa.string()), cols.n)
    for rule in reversed(rules):
        mask = fired[rule.name]
        if mask.any():
            value = rule.label(cols) if rule.label is not None else pa.scalar(rule.name, pa.string())
            labels = pc.if_else(pa.array(mask), value, labels)
    if isinstance(labels, pa.ChunkedArray):
        labels = labels.combine_chunks()
    return Classification(labels, fired, skipped, disabled[::-1])
