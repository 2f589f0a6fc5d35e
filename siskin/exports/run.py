"""Running exports: one spec's night (`run_export`) or every configured spec's (`run_all`)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import UTC, datetime

import pyarrow as pa

from siskin import __version__
from siskin.config import ExportSpec, Settings
from siskin.errors import ConfigurationError, SiskinError
from siskin.exports import store
from siskin.exports.formats import EXTENSIONS, encode
from siskin.exports.manifest import ExportedFile, Manifest, sha256
from siskin.exports.paths import target
from siskin.exports.select import select_night

log = logging.getLogger(__name__)


def spec_named(settings: Settings, name: str) -> ExportSpec:
    """The configured spec called `name`; a ConfigurationError listing the configured ones otherwise."""
    try:
        return settings.exports.specs[name]
    except KeyError:
        known = ", ".join(sorted(settings.exports.specs)) or "none (add [exports.specs.NAME] to siskin.toml)"
        raise ConfigurationError(f"no export spec {name!r}; configured specs: {known}") from None


def check_night(night: int) -> int:
    """Nights are YYYYMMDD integers."""
    text = str(night)
    if len(text) != 8 or not text.isdigit() or not (1 <= int(text[4:6]) <= 12 and 1 <= int(text[6:]) <= 31):
        raise ConfigurationError(f"night {night!r} is not a YYYYMMDD date")
    return int(night)


def _chunks(table: pa.Table, rows: int) -> list[pa.Table]:
    """At most `rows` rows per file; an empty night still gets one (empty) file carrying the schema."""
    if table.num_rows == 0:
        return [table]
    return [table.slice(start, rows) for start in range(0, table.num_rows, rows)]


def run_export(settings: Settings, spec_name: str, night: int) -> Manifest:
    """Export one night for one spec, replacing any earlier export of that night; returns its manifest."""
    night = check_night(night)
    spec = spec_named(settings, spec_name)
    where = target(settings, spec_name, spec, night)  # refuses paths outside the roots before reading
    rows = select_night(settings, spec, night)
    staged = store.staging(where)
    extension = EXTENSIONS[spec.format]
    files: list[ExportedFile] = []
    try:
        for i, part in enumerate(_chunks(rows, settings.exports.max_rows_per_file)):
            name = f"part-{i:05d}.{extension}"
            data = encode(part, spec.format)
            store.write_file(f"{staged}/{name}", data)
            files.append(ExportedFile(name, part.num_rows, len(data), sha256(data)))
        manifest = Manifest(
            spec=spec_name,
            who=spec.who,
            night=night,
            table=spec.table,
            format=spec.format,
            rows=rows.num_rows,
            files=files,
            schema=[{"name": f.name, "type": str(f.type)} for f in rows.schema],
            where=[c.model_dump() for c in spec.where],
            siskin_version=__version__,
            created_at=datetime.now(UTC).isoformat(),
            location=where.night_dir,
        )
        store.write_file(f"{staged}/{store.MANIFEST}", manifest.to_json().encode())
        store.publish(staged, where)
    except BaseException:
        try:
            store.discard(staged)
        except Exception:  # noqa: BLE001 - the original error matters more than the clean-up's
            log.warning("could not remove the staged export %s", staged)
        raise
    log.info("export %s night %s: %s rows -> %s", spec_name, night, rows.num_rows, where.night_dir)
    return manifest


def run_all(settings: Settings, night: int) -> list[Manifest]:
    """Run every configured spec for the night: all are tried, then one error names those that failed."""
    done: list[Manifest] = []
    failed: list[str] = []
    for name in sorted(settings.exports.specs):
        try:
            done.append(run_export(settings, name, night))
        except SiskinError as exc:
            failed.append(f"{name}: {exc}")
    if failed:
        total = len(settings.exports.specs)
        raise SiskinError(f"{len(failed)} of {total} exports failed: " + "; ".join(failed))
    return done


def summary(manifest: Manifest) -> dict[str, object]:
    """A manifest's headline as JSON-ready values (what the CLI prints)."""
    data = asdict(manifest)
    return {k: data[k] for k in ("spec", "who", "night", "table", "format", "rows", "location")} | {
        "files": len(manifest.files)
    }
