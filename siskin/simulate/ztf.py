"""Assemble and encode simulated ZTF alerts (schema 4.02) as single-record Avro container files.

Each payload is what ZTF publishes on Kafka: an object container (codec null) holding one `ztf.alert`
record with its schema embedded. The schema comes from the package's inlined 4.02 file, so a fresh
clone needs no external data; it is embedded without `doc` strings and defaults (8.7 KB instead of
23 KB), like the alerts brokers re-publish.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from siskin.errors import ConfigurationError
from siskin.simulate._avro import (
    FlatField,
    container_block,
    container_header,
    encode_bytes,
    encode_long,
    encode_rows,
    flat_fields,
)
from siskin.simulate._random import hash64
from siskin.simulate.cutouts import LEVELS, VARIANTS, stamps
from siskin.simulate.fields import (
    candidate_extras,
    detection_fields,
    diff_filenames,
    forced_fields,
    upper_limit_fields,
)
from siskin.simulate.history import History, history
from siskin.simulate.nights import CODE, NightIndex, night_detections
from siskin.simulate.population import ZP, ZTF_START_JD, Kind, Population, Table, take
from siskin.simulate.schedule import night_id, year_of_jd

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "alerts" / "schemas" / "ztf" / "4.02" / "alert.avsc"
PUBLISHER = "ZTF (www.ztf.caltech.edu)"
TOP_FIELDS = [
    "schemavsn",
    "publisher",
    "objectId",
    "candid",
    "candidate",
    "prv_candidates",
    "fp_hists",
    "cutoutScience",
    "cutoutTemplate",
    "cutoutDifference",
]
BATCH = 2048
FP_EPOCHS = 10  # fp_hists keeps the most recent forced-photometry epochs
_UL_FIELDS = {
    "jd",
    "fid",
    "pid",
    "diffmaglim",
    "pdiffimfilename",
    "programpi",
    "programid",
    "nid",
    "rcid",
    "field",
    "magzpsci",
    "magzpsciunc",
    "magzpscirms",
    "clrcoeff",
    "clrcounc",
    "rbversion",
}


@lru_cache(maxsize=1)
def alert_schema() -> dict[str, Any]:
    """The inlined ZTF 4.02 alert schema shipped with the package."""
    if not SCHEMA_FILE.is_file():
        raise ConfigurationError(f"ZTF 4.02 schema {SCHEMA_FILE} is missing; reinstall siskin")
    schema: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return schema


def strip_docs(node: Any) -> Any:
    """The schema without `doc` strings and field defaults: neither changes how data is encoded or
    decoded with it as writer schema, and together they are 60% of its JSON."""
    if isinstance(node, dict):
        return {k: strip_docs(v) for k, v in node.items() if k not in ("doc", "default")}
    if isinstance(node, list):
        return [strip_docs(v) for v in node]
    return node


def named_records(node: Any, found: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """First definition of every record in a schema, by short name (`candidate`, `cutout`, ...)."""
    found = {} if found is None else found
    if isinstance(node, list):
        for branch in node:
            named_records(branch, found)
    elif isinstance(node, dict):
        if node.get("type") == "record":
            found.setdefault(str(node["name"]).rsplit(".", 1)[-1], node)
            for field in node["fields"]:
                named_records(field["type"], found)
        elif node.get("type") == "array":
            named_records(node["items"], found)
    return found


@dataclass(frozen=True)
class Encoder:
    """Everything reused across alerts: container header, sync marker, flat field lists."""

    header: bytes
    sync: bytes
    candidate: list[FlatField]
    prv: list[FlatField]
    fp: list[FlatField]


@lru_cache(maxsize=8)
def encoder(seed: int) -> Encoder:
    """The encoder for one seed (the sync marker derives from it, so payloads are reproducible)."""
    schema = strip_docs(alert_schema())
    names = [f["name"] for f in schema["fields"]]
    if names != TOP_FIELDS:
        raise ConfigurationError(f"{SCHEMA_FILE} is not the ZTF 4.02 alert layout: fields {names}")
    for field in schema["fields"][5:]:
        if field["type"][0] != "null":
            raise ConfigurationError(f"{SCHEMA_FILE}: field {field['name']} must be a union with null first")
    records = named_records(schema)
    sync = hashlib.md5(f"siskin.simulate:{seed}".encode()).digest()
    return Encoder(
        header=container_header(schema, sync),
        sync=sync,
        candidate=flat_fields(records["candidate"]),
        prv=flat_fields(records["prv_candidate"]),
        fp=flat_fields(records["fp_hist"]),
    )


def object_ids(keys: np.ndarray, jdstart: np.ndarray) -> list[str]:
    """ZTF-like names: 'ZTF' + year of first detection + 7 letters, unique per key within a year."""
    perm = (keys.astype(np.int64) * 1_000_003 + 12_345) % 26**7
    digits = np.stack([(perm // 26**k) % 26 for k in range(6, -1, -1)], axis=1).astype(np.uint8) + 97
    letters = digits.tobytes().decode("ascii")
    years = (year_of_jd(jdstart) % 100).tolist()
    return [f"ZTF{y:02d}{letters[7 * i : 7 * i + 7]}" for i, y in enumerate(years)]


def _history_stats(rows: Table, hist: History) -> dict[str, np.ndarray]:
    """ndethist, ncovhist, jdstarthist, jdendhist, consistent with the emitted history."""
    det = hist.rows["candid"] >= 0
    m = len(det)
    cum = np.concatenate([[0], np.cumsum(det)])
    ndet_prv = cum[hist.stop] - cum[hist.start]
    # index of the first detection at or after each row (m: none), then each alert's first one
    next_det = np.append(np.minimum.accumulate(np.where(det, np.arange(m), m)[::-1])[::-1], m)
    first = next_det[hist.start]
    first_jd = np.where(first < hist.stop, np.append(hist.rows["jd"], np.inf)[first], np.inf)
    single = np.isin(rows["kind"], [int(Kind.ASTEROID), int(Kind.BOGUS)])
    jdstart = np.where(single, rows["jd"], np.minimum(np.minimum(rows["jdstart"], first_jd), rows["jd"]))
    before = np.floor(np.maximum(rows["jd"] - 30.0 - jdstart, 0.0) * rows["ndet_rate"]).astype(np.int64)
    ndet = np.where(single, 1, before + ndet_prv + 1)
    cover = np.round((rows["jd"] - ZTF_START_JD) * 0.25 * rows["cov_ratio"]).astype(np.int64)
    return {
        "ndethist": ndet,
        "ncovhist": np.maximum(cover, ndet + ndet // 5),
        "jdstarthist": jdstart,
        "jdendhist": rows["jd"],
    }


def _union_array(flat: bytes, offsets: np.ndarray, start: int, stop: int) -> bytes:
    """A ["null", array] union holding rows start..stop of an encoded table (null when empty)."""
    if stop <= start:
        return b"\x00"
    return b"\x02" + encode_long(stop - start) + flat[offsets[start] : offsets[stop]] + b"\x00"


def _stamp_args(seed: int, rows: Table, cand: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-alert arguments of `stamps`: fluxes in DN, seeing, noise draws and template choice."""
    to_dn = np.power(10.0, 0.4 * (rows["magzpsci"] - ZP))
    near = rows["distnr"] < 1.5  # the reference source sits on the alert's position
    template_mag = np.where(near, np.asarray(cand["magnr"]), np.inf)
    host_dn = np.where(near, np.power(10.0, -0.4 * (template_mag - rows["magzpsci"])), 0.0)
    bits = hash64(seed, 71, rows["candid"])
    columns = {
        "variant": bits % np.uint64(VARIANTS),
        "level": hash64(seed, 72, rows["vid"], rows["rcid"]) % np.uint64(len(LEVELS)),
        "fwhm": np.asarray(cand["fwhm"]),
        "sub": (bits >> np.uint64(8)) % np.uint64(9),
        "sci_dn": host_dn + rows["flux"] * to_dn,
        "diff_dn": np.abs(rows["flux"]) * to_dn,
        "ref_mag": template_mag,
        "template_variant": hash64(seed, 73, rows["hid"], rows["fid"]) % np.uint64(1 << 16),
    }
    lists = [
        col.astype(np.int64).tolist() if col.dtype == np.uint64 else col.tolist() for col in columns.values()
    ]
    return [dict(zip(columns, values, strict=True)) for values in zip(*lists, strict=True)]


def _encode_batch(
    pop: Population,
    nid: int,
    rows: Table,
    tonight: NightIndex,
    enc: Encoder,
) -> Iterator[tuple[int, bytes]]:
    """Encode a batch of alerts (rows in time order) with their histories and cutouts."""
    seed, n = pop.seed, len(rows["jd"])
    hist = history(pop, nid, rows, tonight)
    h, m = hist.rows, len(hist.rows["jd"])
    with np.errstate(divide="ignore", invalid="ignore"):
        prv = detection_fields(seed, h) | upper_limit_fields(seed, h)
    ul = h["candid"] < 0
    prv_nulls = {f.name: ul for f in enc.prv if f.name not in _UL_FIELDS}
    prv_nulls |= {name: np.ones(m, dtype=bool) for name in ("ssnamenr", "ssdistnr", "ssmagnr")}
    prv_flat, prv_off = encode_rows(enc.prv, m, prv, prv_nulls)
    fp_flat, fp_off = encode_rows(enc.fp, m, forced_fields(seed, h))
    cand = detection_fields(seed, rows) | candidate_extras(seed, rows) | _history_stats(rows, hist)
    cand["pdiffimfilename"] = diff_filenames(rows, archive=False)
    cand_flat, cand_off = encode_rows(enc.candidate, n, cand)
    stamp_args = _stamp_args(seed, rows, cand)
    candids, pids = rows["candid"].tolist(), rows["pid"].tolist()
    ids = object_ids(rows["key"], rows["jdstart"])
    positive = (rows["flux"] > 0).tolist()
    single = np.isin(rows["kind"], [int(Kind.ASTEROID), int(Kind.BOGUS)])  # no forced photometry
    fp_start = np.where(single, hist.stop, np.maximum(hist.start, hist.stop - FP_EPOCHS)).tolist()
    start, stop = hist.start.tolist(), hist.stop.tolist()
    head = encode_bytes(b"4.02") + encode_bytes(PUBLISHER.encode())
    for i in range(n):
        candid, pid = candids[i], pids[i]
        sci, ref, diff = stamps(**stamp_args[i])
        diff_name = f"candid{candid}_pid{pid}_targ_{'scimref' if positive[i] else 'refmsci'}.fits.gz"
        record = b"".join(
            (
                head,
                encode_bytes(ids[i].encode()),
                encode_long(candid),
                cand_flat[cand_off[i] : cand_off[i + 1]],
                _union_array(prv_flat, prv_off, start[i], stop[i]),
                _union_array(fp_flat, fp_off, fp_start[i], stop[i]),
                b"\x02",
                encode_bytes(f"candid{candid}_pid{pid}_targ_sci.fits.gz".encode()),
                encode_bytes(sci),
                b"\x02",
                encode_bytes(f"candid{candid}_ref.fits.gz".encode()),
                encode_bytes(ref),
                b"\x02",
                encode_bytes(diff_name.encode()),
                encode_bytes(diff),
            )
        )
        yield candid, enc.header + container_block(record, enc.sync)


def simulate_night_records(night: int, *, n_alerts: int, seed: int = 42) -> Iterator[tuple[int, bytes]]:
    """(candid, Avro container bytes) of every alert of night YYYYMMDD, in time order; deterministic."""
    if n_alerts < 0:
        raise ConfigurationError(f"n_alerts must be >= 0, got {n_alerts}")
    nid = night_id(night)
    if n_alerts == 0:
        return
    pop = Population(seed=seed, n_alerts=n_alerts)
    enc = encoder(seed)
    alerts, dropped = night_detections(pop, nid)
    codes = alerts["key"] * CODE + alerts["vid"]
    order = np.argsort(codes)
    tonight = NightIndex(codes=codes[order], candids=alerts["candid"][order], dropped=dropped)
    for lo in range(0, n_alerts, BATCH):
        yield from _encode_batch(pop, nid, take(alerts, slice(lo, lo + BATCH)), tonight, enc)


def simulate_night(night: int, *, n_alerts: int, seed: int = 42) -> Iterator[bytes]:
    """The night's alerts as Avro container bytes, in time order; same arguments, same bytes."""
    for _, payload in simulate_night_records(night, n_alerts=n_alerts, seed=seed):
        yield payload
