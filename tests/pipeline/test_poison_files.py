"""Poison files and payloads: each becomes a reject row with a stable reason code while the query runs on.

Covered at the source (no Spark): corrupt and truncated archives (gzip, bzip2, xz, plain tar), files that
vanish or change between listing and reading, oversized members, the watch rules (hidden and partial names,
the stability gate) and an available-now run waiting for a file still being written. Then end to end, in
running streams: a watched landing directory fed good alerts, every kind of poison file, a file copied in
slowly and a hidden file renamed into place; and a Kafka topic carrying a compression bomb per codec.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import random
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from compression_bombs import bomb
from deltalake import DeltaTable

from siskin.config import Settings
from siskin.sources import archive_read
from siskin.sources.archive_read import archive_rows, loose_rows, read_found
from siskin.sources.landing import FoundFile, StabilityGate, discover, wanted

NIGHT = 20261124
MEMBER = 5000  # bytes of each synthetic member: 512-byte header + 10 data blocks in a tar


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _members(n: int) -> list[tuple[str, bytes]]:
    rng = random.Random(n)
    return [(f"{1000 + i}.avro", rng.randbytes(MEMBER)) for i in range(n)]


def _found(path: Path) -> FoundFile:
    st = path.stat()
    return FoundFile(str(path), st.st_size, st.st_mtime_ns)


def _rows(path: Path, data: bytes) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    path.write_bytes(data)
    rows = list(archive_rows(_found(path)))
    return [r for r in rows if r[4] is None], [r for r in rows if r[4] is not None]


# --- the source, no Spark ----------------------------------------------------------------------------


@pytest.mark.parametrize("wrap", ["gzip", "bzip2", "xz", "tar"])
def test_a_sound_archive_yields_every_member_and_no_error(wrap: str, tmp_path: Path) -> None:
    raw = _tar(_members(12) + [("notes.txt", b"skipped"), ("._1000.avro", b"resource fork")])
    data = {"gzip": gzip.compress, "bzip2": bz2.compress, "xz": lzma.compress, "tar": bytes}[wrap](raw)
    good, errors = _rows(tmp_path / "night.tar.gz", data)
    assert errors == []
    assert [(r[1], r[3]) for r in good] == _members(12)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


TAR = _tar(_members(20))
TGZ = gzip.compress(TAR, mtime=0)
ENTRY = 512 + MEMBER + (-MEMBER % 512)  # one member's header and padded data
CORRUPT = {
    # name: (bytes, members expected before the damage, member named in the error row, words in the reason)
    "gzip_cut_in_half": (TGZ[: len(TGZ) // 2], None, None, "Compressed file ended"),
    "gzip_crc_zeroed": (TGZ[:-8] + bytes(4) + TGZ[-4:], 20, None, "CRC check failed"),
    "gzip_trailer_missing": (TGZ[:-8], 20, None, "Compressed file ended"),
    "random_bytes": (random.Random(3).randbytes(4000), 0, None, "invalid header"),
    "empty_file": (b"", 0, None, "empty file"),
    "tar_cut_inside_member_7": (TAR[: 6 * ENTRY + 512 + 100], 6, "1006.avro", "unexpected end of data"),
    "tar_cut_between_members": (TAR[: 6 * ENTRY], 6, None, "without its end-of-archive marker"),
    "tar_cut_inside_a_header": (TAR[: 6 * ENTRY + 200], 6, None, "inside the member header"),
    "tar_bad_header_checksum": (_flip(TAR, 6 * ENTRY + 10), 6, None, "invalid member header"),
    "tar_zero_block_hides_members": (
        TAR[: 6 * ENTRY] + bytes(512) + TAR[6 * ENTRY + 512 :],
        6,
        None,
        "data follows the end-of-archive marker",
    ),
    "bzip2_cut": (bz2.compress(TAR)[:-40], 0, None, "Compressed file ended"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_damaged_archive_yields_the_members_before_the_damage_then_one_corrupt_archive_row(
    case: str, tmp_path: Path
) -> None:
    data, before, member, words = CORRUPT[case]
    good, errors = _rows(tmp_path / f"{case}.tar.gz", data)
    members = _members(20)
    if before is None:  # a cut in compressed data: some prefix of the members, not all
        assert 0 < len(good) < 20
    else:
        assert len(good) == before
    assert [(r[1], r[3]) for r in good] == members[: len(good)]  # each emitted member is whole and genuine
    assert len(errors) == 1
    path, got_member, _, payload, error = errors[0]
    assert path == str(tmp_path / f"{case}.tar.gz")
    assert error.startswith("corrupt_archive: ") and words in error, error
    assert f"after {len(good)} member(s)" in error
    if member is not None:
        assert got_member == member
    assert payload is None or len(payload) <= archive_read.QUARANTINE_BYTES_MAX


def test_a_member_cut_after_some_pieces_keeps_its_partial_bytes_for_the_quarantine_row(
    tmp_path: Path,
) -> None:
    big = random.Random(1).randbytes(200_000)
    tar = _tar([("1.avro", b"x" * 100), ("2.avro", big)])
    cut = 2 * 512 + 512 + 150_000  # inside member 2, after two 64 KiB pieces
    good, errors = _rows(tmp_path / "cut.tar", tar[:cut])
    assert [r[1] for r in good] == ["1.avro"]
    (_, member, _, payload, error) = errors[0]
    assert member == "2.avro" and error.startswith("corrupt_archive: ")
    assert payload is not None and len(payload) == 2 * 64 * 1024 and big.startswith(payload)


def test_a_file_gone_or_changed_since_listing_is_a_row_not_an_exception(tmp_path: Path) -> None:
    loose = tmp_path / "a.avro"
    loose.write_bytes(b"0123456789")
    tgz = tmp_path / "n.tar.gz"
    tgz.write_bytes(TGZ)
    listed_loose, listed_tgz = _found(loose), _found(tgz)
    loose.write_bytes(b"0123456789 and more")  # rewritten in place after it was listed
    with tgz.open("ab") as f:
        f.write(b"appended")
    for listed in (listed_loose, listed_tgz):
        rows = list(archive_rows(listed) if listed.is_archive else loose_rows(listed))
        assert [(r[3], r[4].split(":")[0]) for r in rows] == [(None, "file_changed")]
        assert str(listed.size) in rows[0][4]
    loose.unlink()
    tgz.unlink()
    for listed in (listed_loose, listed_tgz):
        rows = list(archive_rows(listed) if listed.is_archive else loose_rows(listed))
        assert [(r[0], r[3], r[4]) for r in rows] == [
            (listed.path, None, f"file_vanished: listed with {listed.size} bytes, gone when read")
        ]


def test_oversized_files_and_members_are_refused_without_being_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive_read, "MAX_FILE_BYTES", 4096)
    tgz = tmp_path / "n.tar.gz"
    tgz.write_bytes(gzip.compress(_tar([("1.avro", b"a" * 100), ("2.avro", b"b" * 5000), ("3.avro", b"c")])))
    loose = tmp_path / "big.avro"
    loose.write_bytes(b"z" * 5000)
    rows = list(read_found([_found(tgz), _found(loose)]).__next__().to_pylist())
    summary = [(r["file_member"], r["payload"], (r["source_error"] or "").split(":")[0]) for r in rows]
    assert summary == [
        ("1.avro", b"a" * 100, ""),
        ("2.avro", None, "oversized"),
        ("3.avro", b"c", ""),
        (None, None, "oversized"),
    ]


def test_read_batches_are_bounded_by_rows(tmp_path: Path) -> None:
    tgz = tmp_path / "n.tar.gz"
    tgz.write_bytes(gzip.compress(_tar(_members(450))))
    sizes = [b.num_rows for b in read_found([_found(tgz)])]
    assert sizes == [200, 200, 50]


def test_watch_rules_ignore_hidden_underscore_and_partial_names(tmp_path: Path) -> None:
    for rel in [
        "a.avro",
        "sub/b.tar.gz",
        ".c.avro",
        "d.avro.tmp",
        "e.avro.part",
        "f.tar.gz.crdownload",
        ".staging/g.avro",
        "_temporary/0/h.avro",
        "i.json",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    found = sorted(Path(f.path).relative_to(tmp_path).as_posix() for f in discover([str(tmp_path)]))
    assert found == ["a.avro", "sub/b.tar.gz"]
    assert wanted("/x.tgz") and not wanted("/x.tar.gz.part") and not wanted("/.x/y.avro")


def test_the_stability_gate_admits_a_file_once_it_stood_still_long_enough() -> None:
    gate = StabilityGate(2.0)
    v1, v2 = FoundFile("/l/a.avro", 10, 1), FoundFile("/l/a.avro", 20, 2)
    assert gate.admit([v1], now=0.0) == []
    assert gate.admit([v1], now=1.9) == []  # unchanged, but not for long enough yet
    assert gate.admit([v2], now=2.5) == []  # grew: the clock restarts
    assert gate.admit([v2], now=4.0) == []
    assert gate.admit([v2], now=4.5) == [v2]
    assert gate.admit([], now=5.0) == [] and gate.pending == {}  # gone from the listing: forgotten


def test_an_available_now_run_waits_for_a_file_still_being_written(tmp_path: Path) -> None:
    from siskin.sources.archive import ArchiveStreamReader

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "done.avro").write_bytes(b"d" * 100)
    growing = landing / "growing.avro"
    chunks = [bytes([65 + i]) * 1000 for i in range(8)]

    def write_slowly() -> None:
        with growing.open("wb") as f:
            for chunk in chunks:
                f.write(chunk)
                f.flush()
                time.sleep(0.2)

    writer = threading.Thread(target=write_slowly)
    writer.start()
    time.sleep(0.05)
    reader = ArchiveStreamReader(
        {"paths": json.dumps([str(landing)]), "manifest": str(tmp_path / "m.jsonl"), "stableSeconds": "0.5"}
    )
    started = time.monotonic()
    reader.prepareForTriggerAvailableNow()
    writer.join()
    assert time.monotonic() - started >= 1.4  # it waited out the writer (8 x 0.2 s) and then 0.5 s
    sizes = {Path(e.path).name: e.size for e in reader.manifest.entries}
    assert sizes == {"done.avro": 100, "growing.avro": 8000}
    end = reader.latestOffset({"index": 0}, reader.getDefaultReadLimit())
    rows = [r for p in reader.partitions({"index": 0}, end) for b in reader.read(p) for r in b.to_pylist()]
    assert sorted(len(r["payload"]) for r in rows) == [100, 8000]


# --- end to end: a watched landing directory --------------------------------------------------------


def _table(lake: Path, name: str, columns: list[str]) -> Any:
    import pandas as pd
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(str(lake / name)).to_pandas(columns=columns)
    except TableNotFoundError:
        return pd.DataFrame(columns=columns)


def _tar_of(records: list[tuple[int, bytes]]) -> bytes:
    return _tar([(f"{candid}.avro", payload) for candid, payload in records])


def _land(landing: Path, name: str, data: bytes, mtime: float | None = None) -> Path:
    """Write `data` under a hidden name, then rename it into place (what a careful copier does)."""
    hidden = landing / f".{name}.tmp"
    hidden.write_bytes(data)
    if mtime is not None:
        os.utime(hidden, (mtime, mtime))
    target = landing / name
    os.replace(hidden, target)
    return target


def _manifest_has(lake: Path, path: Path) -> bool:
    """Whether the files query's manifest (in its checkpoint) lists `path`."""
    return any(str(path) in m.read_text() for m in lake.rglob("siskin_manifest.jsonl"))


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_poison_files_in_a_watched_directory_become_rejects_and_the_stream_goes_on(
    spark_session, tmp_path: Path
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import stop_all, wait_until
    from siskin.simulate.ztf import simulate_night_records

    records = list(simulate_night_records(NIGHT, n_alerts=42, seed=21))
    before, in_tars, singles, after = records[:12], records[12:26], records[26:31], records[31:]
    stays, vanishes, slow_one, partial, renamed = singles
    landing = (tmp_path / "landing").resolve()
    landing.mkdir()
    lake = tmp_path / "lake"
    settings = Settings(
        lake=lake,
        decode={"max_alert_bytes": 400_000},
        stream={"trigger_seconds": 0.5, "watch_stable_seconds": 2.0},
    )
    assert max(len(p) for _, p in records) < 400_000
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    # one file per micro-batch: a file listed in one batch is read in a later one (the vanishing case)
    queries = [house.start_bronze_files([str(landing)], max_files_per_trigger=1), house.start_silver()]

    def silver() -> set[int]:
        return set(_table(lake, "silver/alerts", ["candid"])["candid"])

    def bronze_paths() -> list[str]:
        return list(_table(lake, "bronze/alerts", ["file_path"])["file_path"])

    try:
        _land(landing, "before.tar.gz", gzip.compress(_tar_of(before)))
        wait_until(lambda: len(silver()) == 12, queries, timeout_s=240, what="the alerts landed first")

        # every kind of poison file at once ...
        whole = sum(512 + -(-len(p) // 512) * 512 for _, p in in_tars[:4])
        _land(landing, "truncated.tar", _tar_of(in_tars[:7])[: whole + 512 + 100])  # cut inside member 5
        tgz = gzip.compress(_tar_of(in_tars[7:]), mtime=0)
        _land(landing, "bad_crc.tar.gz", tgz[:-8] + bytes(4) + tgz[-4:])
        _land(landing, "noise.tar.gz", random.Random(9).randbytes(5000))
        for codec in ("deflate", "zstandard", "snappy"):
            _land(landing, f"bomb_{codec}.avro", bomb(codec, 3 * settings.decode.max_alert_bytes))
        (landing / "never.avro.part").write_bytes(partial[1])  # a partial download: never read
        # ... a file that vanishes once listed: both files appear in one listing, stays.avro (older) first
        staging = landing / ".incoming"
        staging.mkdir()
        old = time.time() - 60
        for k, (name, (_, data)) in enumerate([("stays.avro", stays), ("vanishes.avro", vanishes)]):
            (staging / name).write_bytes(data)
            os.utime(staging / name, (old + k, old + k))
        os.replace(staging, landing / "batch2")
        gone = landing / "batch2" / "vanishes.avro"
        deadline = time.monotonic() + 120
        while not _manifest_has(lake, gone) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _manifest_has(lake, gone), "the file to vanish was never listed"
        gone.unlink()  # listed, not yet read: the batch planned with it reads stays.avro (or earlier files)
        assert str(gone) not in bronze_paths()

        # ... a file copied in slowly, visible while it grows: the stability gate must wait it out
        slow = landing / f"{slow_one[0]}.avro"
        pieces = [slow_one[1][i : i + 4096] for i in range(0, len(slow_one[1]), 4096)]
        with slow.open("wb") as f:
            for piece in pieces:
                f.write(piece)
                f.flush()
                time.sleep(2.5 / len(pieces))
        # ... a hidden file (not read while hidden), then good alerts after all of it
        hidden = _land(landing, ".renamed_later.avro", renamed[1])
        _land(landing, "after.tar.gz", gzip.compress(_tar_of(after)))

        expected = {c for c, _ in [*before, *in_tars[:4], *in_tars[7:], stays, slow_one, *after]}
        wait_until(
            lambda: silver() >= expected and len(_table(lake, "silver/rejects", ["reason_code"])) >= 7,
            queries,
            timeout_s=300,
            what="the good alerts around the poison, and its rejects",
        )
        assert silver() == expected
        os.replace(hidden, landing / "renamed.avro")  # renamed into place: picked up now
        wait_until(lambda: renamed[0] in silver(), queries, timeout_s=120, what="the file renamed into place")
        assert all(q.isActive and q.exception() is None for q in queries)
    finally:
        stop_all(queries)
        house.release()

    assert silver() == expected | {renamed[0]}  # the vanished and the partial one never landed
    rejects = _table(
        lake,
        "silver/rejects",
        ["reason_code", "reason", "file_path", "file_member", "payload", "payload_size"],
    )
    by_file = {
        Path(p).name: (code, member, reason)
        for p, code, member, reason in rejects[["file_path", "reason_code", "file_member", "reason"]].values
    }
    assert {name: code for name, (code, _, _) in by_file.items()} == {
        "truncated.tar": "corrupt_archive",
        "bad_crc.tar.gz": "corrupt_archive",
        "noise.tar.gz": "corrupt_archive",
        "bomb_deflate.avro": "oversized",
        "bomb_zstandard.avro": "oversized",
        "bomb_snappy.avro": "oversized",
        "vanishes.avro": "file_vanished",
    }
    assert len(rejects) == 7
    assert by_file["truncated.tar"][1] == f"{in_tars[4][0]}.avro"  # the member being read when it broke
    assert "after 4 member(s)" in by_file["truncated.tar"][2]
    assert "CRC check failed" in by_file["bad_crc.tar.gz"][2]
    assert "gone when read" in by_file["vanishes.avro"][2]
    for codec in ("deflate", "zstandard", "snappy"):
        assert codec in by_file[f"bomb_{codec}.avro"][2] and "400000" in by_file[f"bomb_{codec}.avro"][2]
    assert (rejects["payload"].isna() | (rejects["payload_size"] > 0)).all()
    bronze = _table(lake, "bronze/alerts", ["file_path", "file_member", "payload_size"])
    slow_rows = bronze[bronze["file_path"] == str(slow)]
    assert slow_rows["payload_size"].tolist() == [len(slow_one[1])]  # read once, whole
    assert not bronze["file_path"].str.endswith(".part").any()
    assert not bronze["file_path"].str.contains("/.", regex=False).any()  # nothing hidden was read


# --- end to end: compression bombs on a Kafka topic -------------------------------------------------


@pytest.mark.timeout(600)
def test_compression_bombs_on_a_running_kafka_stream_become_oversized_rejects(
    embedded_broker, spark_session, tmp_path: Path
) -> None:
    from siskin.pipeline.lakehouse import Lakehouse
    from siskin.pipeline.progress import stop_all, wait_until
    from siskin.simulate.ztf import simulate_night_records
    from siskin.sources.kafka_publish import publish

    good = list(simulate_night_records(NIGHT, n_alerts=20, seed=23))
    codecs = ("deflate", "zstandard", "snappy")
    bombs = [bomb(codec, 8 * 200_000) for codec in codecs]  # ~1 KB of zstd or deflate inflating to 1.6 MB
    topic = "poison-bombs"
    embedded_broker.create_topic(topic, 1)
    lake = tmp_path / "lake"
    settings = Settings(lake=lake, decode={"max_alert_bytes": 200_000}, stream={"trigger_seconds": 0.5})
    house = Lakehouse(settings, spark_session)
    house.ensure_tables()
    queries = [
        house.start_bronze_kafka(
            bootstrap=embedded_broker.bootstrap, topics=[topic], starting_offsets="earliest"
        ),
        house.start_silver(),
    ]

    def silver() -> Any:
        return _table(lake, "silver/alerts", ["candid", "offset"])

    def rejects() -> Any:
        return _table(lake, "silver/rejects", ["reason_code", "reason", "offset", "payload_size"])

    try:
        publish([p for _, p in good[:10]], topic, embedded_broker.bootstrap)
        wait_until(lambda: len(silver()) == 10, queries, timeout_s=180, what="the alerts before the bombs")
        publish([*bombs, *(p for _, p in good[10:])], topic, embedded_broker.bootstrap)
        wait_until(
            lambda: len(silver()) == 20 and len(rejects()) == 3,
            queries,
            timeout_s=180,
            what="the bombs' rejects and the alerts after them",
        )
        assert all(q.isActive and q.exception() is None for q in queries)
    finally:
        stop_all(queries)
        house.release()

    assert sorted(silver()["candid"]) == sorted(c for c, _ in good)
    got = rejects().sort_values("offset")
    assert got["offset"].tolist() == [10, 11, 12]
    assert got["reason_code"].tolist() == ["oversized"] * 3
    assert [codec in reason for codec, reason in zip(codecs, got["reason"], strict=True)] == [True] * 3
    assert got["payload_size"].tolist() == [len(b) for b in bombs]  # the bomb itself is kept, as received
