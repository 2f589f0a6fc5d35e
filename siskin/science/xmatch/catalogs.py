"""Reference catalogs as Delta tables (`catalogs.<name>`): read any format, normalise, record provenance.

Every catalog table has the same leading columns, whatever its source: `ra`, `dec` (degrees, J2000),
`id`, `type`, `hpx29` (nested HEALPix pixel at order 29, the join key) and `row` (row number in the
source file), followed by the source's own columns under Delta-safe names. A load replaces the whole
table (`mode="overwrite"`), and `catalogs.index` keeps one provenance row per catalog: source file,
sha256, format, rows kept and dropped, load time and which columns were read as what.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from siskin.config import CatalogSettings, Settings
from siskin.errors import ConfigurationError, LakeError
from siskin.science.xmatch import healpix
from siskin.science.xmatch.readers import read_any
from siskin.science.xmatch.tables import CATALOG_INDEX, INDEX_SCHEMA

NAME = re.compile(r"^[a-z0-9_]+$")
LEADING = ("ra", "dec", "id", "type", "hpx29", "row")

# Recognised source column names (compared lower-case, without punctuation), in order of preference.
CANDIDATES: dict[str, tuple[str, ...]] = {
    "ra": ("ra", "raj2000", "radeg", "ra_deg", "raicrs", "rightascension"),
    "dec": ("dec", "dej2000", "decj2000", "dedeg", "decdeg", "deicrs", "declination"),
    "id": ("name", "sourcename", "id", "objid", "designation", "mangaid", "identifier"),
    "type": ("type", "vtype", "vartype", "class", "otype", "objtype"),
}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9_]", "", name.lower()).replace("_", "")


def find_column(columns: list[str], role: str) -> str | None:
    """The source column that plays `role` (ra, dec, id, type), recognised by its name."""
    by_norm = {_norm(c): c for c in reversed(columns)}
    for want in CANDIDATES[role]:
        if want.replace("_", "") in by_norm:
            return by_norm[want.replace("_", "")]
    return None


def _pick(columns: list[str], given: str | None, role: str, required: bool) -> str | None:
    if given is None:
        found = find_column(columns, role)
        if found is None and required:
            raise ConfigurationError(f"no {role} column recognised among {columns}; name it with --{role}")
        return found
    matches = [c for c in columns if c == given] or [c for c in columns if _norm(c) == _norm(given)]
    if not matches:
        raise ConfigurationError(f"--{role} {given!r}: no such column (columns: {columns})")
    return matches[0]


def safe_name(name: str) -> str:
    """A source column name as a Delta/SQL-safe one (`RA(J2000)` -> `RA_J2000`)."""
    clean = re.sub(r"_+", "_", re.sub(r"[^0-9A-Za-z_]", "_", name.strip())).strip("_") or "col"
    return f"c_{clean}" if clean[0].isdigit() else clean


SEXAGESIMAL = (
    r"^\s*(?P<sign>[+-]?)\s*(?P<a>\d+(?:\.\d*)?)(?:[\s:hd]+(?P<b>\d+(?:\.\d*)?))?"
    r"(?:[\s:m']+(?P<c>\d+(?:\.\d*)?))?[\s\"s]*$"
)


def parse_angles(values: pa.Array, *, hours: bool, unit: str) -> tuple[np.ndarray, str]:
    """Degrees from numbers (in `unit`) or text (decimal, or sexagesimal `hh mm ss.s` / `+dd:mm:ss`)."""
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        try:
            values = pc.cast(values, pa.float64())
        except pa.ArrowInvalid:
            return _from_sexagesimal(values, hours), "sexagesimal"
    out = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
    return (np.degrees(out) if unit == "rad" else out), unit


def _from_sexagesimal(values: pa.Array, hours: bool) -> np.ndarray:
    """Sexagesimal text to degrees, columnar (cells that do not parse become NaN)."""
    parts = pc.extract_regex(pc.utf8_trim_whitespace(values), SEXAGESIMAL)

    def number(field: str) -> np.ndarray:
        text = parts.field(field)
        text = pc.if_else(pc.equal(text, ""), pa.scalar("0"), text)
        return pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)

    sign = np.where(pc.equal(parts.field("sign"), "-").to_numpy(zero_copy_only=False) == True, -1.0, 1.0)  # noqa: E712
    degrees = sign * (number("a") + number("b") / 60.0 + number("c") / 3600.0) * (15.0 if hours else 1.0)
    return np.where(pc.is_null(parts).to_numpy(zero_copy_only=False), np.nan, degrees)


@dataclass(frozen=True)
class LoadedCatalog:
    """What a load wrote: the table, and its provenance row."""

    name: str
    uri: str
    rows: int
    rows_dropped: int
    provenance: dict[str, object]


def catalog_path(lake_uri: str, name: str) -> str:
    """Where `catalogs.<name>` lives (its schema is the source's, so it is listed by `catalogs.index`)."""
    if not NAME.match(name):
        raise ConfigurationError(f"catalog name {name!r}: use lower-case letters, digits and _")
    return f"{lake_uri.rstrip('/')}/catalogs/{name}"


def normalise(source: pa.Table, config: CatalogSettings) -> tuple[pa.Table, dict[str, str | None], int]:
    """(catalog table, columns used per role, rows dropped for missing or impossible coordinates)."""
    columns = source.column_names
    ra_col = _pick(columns, config.ra, "ra", True)
    dec_col = _pick(columns, config.dec, "dec", True)
    id_col = _pick(columns, config.id, "id", False)
    type_col = _pick(columns, config.type, "type", False)
    assert ra_col is not None and dec_col is not None
    ra, how = parse_angles(source[ra_col].combine_chunks(), hours=True, unit=config.unit)
    dec, _ = parse_angles(source[dec_col].combine_chunks(), hours=False, unit=config.unit)
    ok = np.isfinite(ra) & np.isfinite(dec) & (dec >= -90.0) & (dec <= 90.0)
    ok &= (ra >= -360.0) & (ra <= 360.0)
    rows = np.nonzero(ok)[0]
    ra, dec = np.mod(ra[rows], 360.0), dec[rows]
    kept = source.take(pa.array(rows))
    row_col = pa.array(rows.astype(np.int64))
    if id_col is not None:
        ids = pc.utf8_trim_whitespace(pc.cast(kept[id_col], pa.string()))
        missing = pc.or_kleene(pc.is_null(ids), pc.is_in(ids, pa.array(["", "None", "nan", "NaN"])))
        ids = pc.if_else(missing, pc.binary_join_element_wise("#", pc.cast(row_col, pa.string()), ""), ids)
    else:
        ids = pc.binary_join_element_wise("#", pc.cast(row_col, pa.string()), "")
    if type_col is not None:
        types = pc.utf8_trim_whitespace(pc.cast(kept[type_col], pa.string()))
        types = pc.if_else(pc.equal(types, ""), pa.scalar(None, pa.string()), types)
    else:
        types = pa.nulls(len(rows), pa.string())
    out = {
        "ra": pa.array(ra),
        "dec": pa.array(dec),
        "id": ids,
        "type": types,
        "hpx29": pa.array(healpix.pixels(ra, dec)),
        "row": row_col,
    }
    for name in columns:
        col = kept[name].combine_chunks()
        if pa.types.is_null(col.type):
            col = col.cast(pa.string())
        if pa.types.is_string(col.type):
            col = pc.utf8_rtrim_whitespace(col)
        target = safe_name(name)
        while target.lower() in {k.lower() for k in out}:  # Delta names are case-insensitive
            target = f"src_{target}"
        out[target] = col
    used = {"ra": ra_col, "dec": dec_col, "id": id_col, "type": type_col, "coordinates": how}
    return pa.table(out), used, int(len(source) - len(rows))


def sha256_file(path: Path) -> str:
    """The file's sha256, for provenance."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_catalog(settings: Settings, path: Path, name: str, **columns: str | None) -> LoadedCatalog:
    """Read a catalog file into `catalogs.<name>` (replacing it) and record its provenance."""
    from deltalake import CommitProperties, write_deltalake

    from siskin.lake.transactions import ensure_table, forget_table

    uri = catalog_path(settings.lake_uri, name)
    if not path.is_file():
        raise ConfigurationError(f"catalog file {path} does not exist")
    base = settings.science.catalogs.get(name, CatalogSettings())
    config = base.model_copy(update={k: v for k, v in columns.items() if v is not None})
    kind, source = read_any(path, sqlite_table=config.table)
    data, used, dropped = normalise(source, config)
    if data.num_rows == 0:
        raise ConfigurationError(f"{path}: no row has usable coordinates ({dropped} dropped)")
    provenance: dict[str, object] = {
        "name": name,
        "table": f"catalogs.{name}",
        "source_file": str(path.resolve()),
        "sha256": sha256_file(path),
        "format": kind,
        "rows": data.num_rows,
        "rows_dropped": dropped,
        "load_time": datetime.now(UTC),
        "ra_column": used["ra"],
        "dec_column": used["dec"],
        "id_column": used["id"],
        "type_column": used["type"],
        "coordinates": used["coordinates"],
    }
    meta = {f"siskin.catalog.{k}": str(v) for k, v in provenance.items()}
    write_deltalake(
        uri,
        data,
        mode="overwrite",
        schema_mode="overwrite",
        description=f"reference catalog {name} from {path.name}",
        commit_properties=CommitProperties(custom_metadata=meta),
    )
    forget_table(uri)
    index_uri = CATALOG_INDEX.path(settings.lake_uri)
    ensure_table(index_uri, INDEX_SCHEMA, ())
    write_deltalake(
        index_uri,
        pa.Table.from_pylist([provenance], INDEX_SCHEMA),
        mode="overwrite",
        predicate=f"name = '{name}'",
    )
    forget_table(index_uri)
    return LoadedCatalog(name, uri, data.num_rows, dropped, provenance)


def list_catalogs(settings: Settings) -> pa.Table:
    """The provenance rows of every loaded catalog (empty when none was loaded)."""
    from siskin.lake.transactions import open_table

    dt = open_table(CATALOG_INDEX.path(settings.lake_uri))
    if dt is None:
        return INDEX_SCHEMA.empty_table()
    return dt.to_pyarrow_table().sort_by("name")


def catalog_uri(settings: Settings, name: str) -> str:
    """Where a loaded catalog lives; a LakeError naming the loaded ones when it was never loaded."""
    from siskin.lake.transactions import open_table

    uri = catalog_path(settings.lake_uri, name)
    if open_table(uri) is None:
        loaded = list_catalogs(settings).column("name").to_pylist()
        raise LakeError(
            f"catalog {name!r} is not loaded (loaded: {loaded or 'none'}); "
            f"run `siskin catalogs load PATH --name {name}`"
        )
    return uri
