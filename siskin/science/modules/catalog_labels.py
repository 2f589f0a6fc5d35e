"""Catalog labels per alert, as the reference broker names them: the nearest local-catalog source.

`vsx`, `gcvs` (type of the nearest VSX / GCVS star within 1.5"), `x3hsp`, `x4lac` (name of the
nearest 3HSP / 4LAC blazar within 60"; 4LAC is its high- and low-latitude tables together),
`spicy_id`, `spicy_class` (SPICY young stellar object within 1.2": its SPICY number and class) and
`mangrove` (the nearest Mangrove galaxy within 60": HyperLEDA and 2MASS names, luminosity and angular
distances, as text). No match gives the broker's "Unknown" (`spicy_id` -1, every `mangrove` field
"None"); a catalog missing from the lake gives nulls and one logged warning. Radii are the catalogs'
`radius_arcsec` settings (`[science.catalogs.<name>]`).

Runs inside Spark tasks on every micro-batch: each catalog table is read once per worker process and
kept, indexed by HEALPix pixel (`siskin.science.xmatch.index`), until its Delta version changes
(checked at most every `refresh_seconds`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from siskin.science.base import ModuleConfig, Output, ScienceModule
from siskin.science.registry import register
from siskin.science.tables import RUBIN_ALERTS, ZTF_ALERTS
from siskin.science.xmatch.index import Around, SkyIndex

if TYPE_CHECKING:
    from siskin.config import Settings

_LOG = logging.getLogger(__name__)

UNKNOWN = "Unknown"
MANGROVE_FIELDS = ("HyperLEDA_name", "2MASS_name", "lum_dist", "ang_dist")
MANGROVE_TYPE = pa.struct([pa.field(f, pa.string()) for f in MANGROVE_FIELDS])
# Mangrove's fields as the catalog table stores them (source names made Delta-safe by the loader)
MANGROVE_SOURCE = {"HyperLEDA_name": "HyperLEDA_name", "2MASS_name": "c_2MASS_name"}

OUTPUTS = (
    Output("vsx", pa.string(), "VSX variability type of the nearest VSX star (Unknown: none)"),
    Output("gcvs", pa.string(), "GCVS variability type of the nearest GCVS star (Unknown: none)"),
    Output("mangrove", MANGROVE_TYPE, "nearest Mangrove galaxy: names and distances (fields None: none)"),
    Output("x3hsp", pa.string(), "name of the nearest 3HSP blazar (Unknown: none)"),
    Output("x4lac", pa.string(), "name of the nearest 4LAC-DR3 blazar (Unknown: none)"),
    Output("spicy_id", pa.int64(), "SPICY number of the nearest young stellar object (-1: none)"),
    Output("spicy_class", pa.string(), "SPICY class of the nearest young stellar object (Unknown: none)"),
)


class CatalogLabelsConfig(ModuleConfig):
    """Which lake catalog tables feed each label, and how often a cached table's version is checked."""

    vsx: list[str] = Field(default_factory=lambda: ["vsx"])
    gcvs: list[str] = Field(default_factory=lambda: ["gcvs"])
    mangrove: list[str] = Field(default_factory=lambda: ["mangrove"])
    x3hsp: list[str] = Field(default_factory=lambda: ["3hsp"])
    x4lac: list[str] = Field(default_factory=lambda: ["4lac_h", "4lac_l"])
    spicy: list[str] = Field(default_factory=lambda: ["spicy"])
    refresh_seconds: float = Field(default=60.0, ge=0)


@dataclass
class _Cached:
    """One catalog table in memory: its version, pixel index and the columns labels are made of."""

    version: int
    index: SkyIndex
    columns: pa.Table
    checked: float


_CACHE: dict[tuple[str, float], _Cached | None] = {}
_CHECKED_ABSENT: dict[tuple[str, float], float] = {}
_WARNED: set[str] = set()
_LOCK = threading.Lock()


def _read(uri: str, radius_arcsec: float) -> _Cached | None:
    """The catalog at `uri` indexed for `radius_arcsec`, or None when the lake has no such table."""
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return None
    names = set(table.schema().to_arrow().names)  # type: ignore[attr-defined]
    wanted = [c for c in ("ra", "dec", "hpx29", "id", "type", "row", *MANGROVE_SOURCE.values()) if c in names]
    wanted += [c for c in ("lum_dist", "ang_dist") if c in names]
    data = table.to_pyarrow_table(columns=wanted)
    ra = data.column("ra").to_numpy()
    dec = data.column("dec").to_numpy()
    pix29 = data.column("hpx29").to_numpy() if "hpx29" in names else None
    index = SkyIndex.build(ra, dec, radius_arcsec, pix29=pix29)
    keep = [c for c in data.column_names if c not in ("ra", "dec", "hpx29")]
    return _Cached(table.version(), index, data.select(keep), time.monotonic())


def cached_catalog(uri: str, radius_arcsec: float, refresh_seconds: float) -> _Cached | None:
    """The process's copy of a catalog table, read again only when its Delta version changed."""
    from siskin.lake.transactions import current_table

    key = (uri, radius_arcsec)
    now = time.monotonic()
    with _LOCK:
        if key in _CACHE:
            known = _CACHE[key]
            if known is not None and now - known.checked < refresh_seconds:
                return known
            if known is None and now - _CHECKED_ABSENT.get(key, 0.0) < refresh_seconds:
                return None
            if known is not None:
                live = current_table(uri)
                if live is not None and live.version() == known.version:
                    known.checked = now
                    return known
        loaded = _read(uri, radius_arcsec)
        _CACHE[key] = loaded
        if loaded is None:
            _CHECKED_ABSENT[key] = now
            if uri not in _WARNED:
                _WARNED.add(uri)
                _LOG.warning("catalog table %s is not in the lake: its labels are null", uri)
        return loaded


def clear_cache() -> None:
    """Forget every cached catalog (tests; a worker that must re-read now)."""
    with _LOCK:
        _CACHE.clear()
        _CHECKED_ABSENT.clear()
        _WARNED.clear()


@dataclass(frozen=True)
class Nearest:
    """Per alert: the nearest row of one catalog label's tables (-1: none), and which table it is in."""

    row: np.ndarray
    sep: np.ndarray
    source: np.ndarray  # index into `catalogs`
    catalogs: list[_Cached]


def nearest_in(
    catalogs: list[_Cached], ra: np.ndarray, dec: np.ndarray, blocks: dict[int, Around] | None = None
) -> Nearest:
    """The nearest match over several tables (4LAC is two): the smallest separation wins.

    `blocks`: pixel blocks per order, filled and shared by the labels of one batch."""
    n = len(ra)
    row = np.full(n, -1, dtype=np.int64)
    sep = np.full(n, np.inf)
    source = np.zeros(n, dtype=np.int64)
    blocks = {} if blocks is None else blocks
    for k, catalog in enumerate(catalogs):
        order = catalog.index.order
        if order not in blocks:
            blocks[order] = Around.of(ra, dec, order)
        r, s = catalog.index.nearest(ra, dec, blocks[order])
        better = (r >= 0) & (s < sep)
        row[better], sep[better], source[better] = r[better], s[better], k
    return Nearest(row, sep, source, catalogs)


def _text(found: Nearest, column: str, missing: str) -> pa.Array:
    """A string column of the matched rows (trimmed; null in the catalog reads as ""), `missing` else."""
    out = np.full(len(found.row), missing, dtype=object)
    for k, catalog in enumerate(found.catalogs):
        hit = np.flatnonzero((found.row >= 0) & (found.source == k))
        if len(hit) == 0:
            continue
        values = catalog.columns.column(column).take(pa.array(found.row[hit]))
        values = pc.fill_null(pc.utf8_trim_whitespace(pc.cast(values, pa.string())), "")
        out[hit] = values.to_numpy(zero_copy_only=False)
    return pa.array(out, pa.string())


def label_columns(
    ra: np.ndarray, dec: np.ndarray, tables: Mapping[str, list[_Cached] | None]
) -> dict[str, pa.Array]:
    """Every label column for positions, given each label's cached tables (None: catalog absent)."""
    n = len(ra)
    out: dict[str, pa.Array] = {}
    blocks: dict[int, Around] = {}
    for label in ("vsx", "gcvs"):
        cats = tables[label]
        out[label] = (
            pa.nulls(n, pa.string())
            if cats is None
            else _text(nearest_in(cats, ra, dec, blocks), "type", UNKNOWN)
        )
    for label in ("x3hsp", "x4lac"):
        cats = tables[label]
        out[label] = (
            pa.nulls(n, pa.string())
            if cats is None
            else _text(nearest_in(cats, ra, dec, blocks), "id", UNKNOWN)
        )
    spicy = tables["spicy"]
    if spicy is None:
        out["spicy_id"], out["spicy_class"] = pa.nulls(n, pa.int64()), pa.nulls(n, pa.string())
    else:
        found = nearest_in(spicy, ra, dec, blocks)
        ids = np.full(n, -1, dtype=np.int64)
        for k, catalog in enumerate(found.catalogs):
            hit = np.flatnonzero((found.row >= 0) & (found.source == k))
            source_rows = catalog.columns.column("row").take(pa.array(found.row[hit])).to_numpy()
            ids[hit] = source_rows + 1  # SPICY numbers run 1..N in the catalog's order
        out["spicy_id"] = pa.array(ids, pa.int64())
        out["spicy_class"] = _text(found, "type", UNKNOWN)
    mangrove = tables["mangrove"]
    if mangrove is None:
        out["mangrove"] = pa.nulls(n, MANGROVE_TYPE)
    else:
        found = nearest_in(mangrove, ra, dec, blocks)
        fields = [_text(found, MANGROVE_SOURCE.get(f, f), "None") for f in MANGROVE_FIELDS]
        out["mangrove"] = pa.StructArray.from_arrays(fields, fields=list(MANGROVE_TYPE))
    return out


class _CatalogLabels(ScienceModule):
    """Shared by the ZTF and Rubin modules: both read flat `ra`, `dec` from their silver table."""

    inputs = ("ra", "dec")
    outputs = OUTPUTS
    Config = CatalogLabelsConfig

    def bind(self, settings: Settings) -> None:
        """Learn where the lake's catalog tables are, and each catalog's radius."""
        from siskin.config import CatalogSettings
        from siskin.science.xmatch.catalogs import catalog_path

        c = self.config
        assert isinstance(c, CatalogLabelsConfig)
        self._tables: dict[str, list[tuple[str, float]]] = {}
        for label in ("vsx", "gcvs", "mangrove", "x3hsp", "x4lac", "spicy"):
            names: list[str] = getattr(c, label)
            radii = [settings.science.catalogs.get(name, CatalogSettings()).radius_arcsec for name in names]
            self._tables[label] = [
                (catalog_path(settings.lake_uri, n), r) for n, r in zip(names, radii, strict=True)
            ]

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """Nearest source per catalog for every alert of the batch."""
        if not hasattr(self, "_tables"):
            from siskin.config import load_settings

            self.bind(load_settings())
        c = self.config
        assert isinstance(c, CatalogLabelsConfig)
        tables: dict[str, list[_Cached] | None] = {}
        for label, where in self._tables.items():
            found = [cached_catalog(uri, radius, c.refresh_seconds) for uri, radius in where]
            present = [f for f in found if f is not None]
            tables[label] = present or None
        ra = batch.column("ra").to_numpy().astype(np.float64)
        dec = batch.column("dec").to_numpy().astype(np.float64)
        return label_columns(ra, dec, tables)


@register
class CatalogLabels(_CatalogLabels):
    """ZTF alerts' catalog labels."""

    name = "catalog_labels"
    version = "1.0.0"
    survey = "ztf"
    table = ZTF_ALERTS


@register
class RubinCatalogLabels(_CatalogLabels):
    """Rubin alerts' catalog labels, from `silver.rubin_alerts` diaSource positions."""

    name = "rubin_catalog_labels"
    version = "1.0.0"
    survey = "rubin"
    table = RUBIN_ALERTS
