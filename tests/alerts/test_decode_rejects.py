"""Bad payloads become rejects with distinct, stable reason codes; good payloads beside them decode."""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import fastavro
import pyarrow as pa
import pytest
from compression_bombs import SCHEMA_402, bomb
from ztf_payloads import datum, encode

from siskin.alerts.avro_container import encode_long, parse_header
from siskin.alerts.decoder import decode_payloads
from siskin.config import DecodeSettings

SETTINGS = DecodeSettings(max_alert_bytes=200_000, confluent_schema_ids={"7": "4.02"})


def _variant(record: dict[str, Any], candid_offset: int, **candidate: Any) -> dict[str, Any]:
    out = copy.deepcopy(record)
    out["candid"] += candid_offset
    out["candidate"].update(candidate)
    return out


def _with_block(container: bytes, count: int, data: bytes) -> bytes:
    """The container's header (codec kept) followed by one hand-made block."""
    _, sync, pos = parse_header(container)
    return container[:pos] + encode_long(count) + encode_long(len(data)) + data + sync


def _first_block(container: bytes) -> bytes:
    _, sync, pos = parse_header(container)
    from siskin.alerts.avro_container import read_long

    _, pos = read_long(container, pos)
    size, pos = read_long(container, pos)
    return container[pos : pos + size]


def _bad_union_index(record: dict[str, Any], schema: dict[str, Any]) -> bytes:
    """The record's bytes with the union index of candidate.diffmaglim set to a branch that does not exist."""
    head = {"type": "record", "name": "head", "fields": schema["fields"][:4]}
    cand = record["candidate"]
    offset = len(datum(record, head)) + 8 + len(encode_long(cand["fid"])) + len(encode_long(cand["pid"]))
    raw = bytearray(datum(record, schema))
    assert raw[offset] in (0, 2)
    raw[offset] = 0x7E
    return bytes(raw)


def _nullable_candid(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with both copies of candid (top level and candidate.candid) nullable."""
    out = copy.deepcopy(schema)
    next(f for f in out["fields"] if f["name"] == "candid")["type"] = ["null", "long"]
    candidate = next(f for f in out["fields"] if f["name"] == "candidate")["type"]
    next(f for f in candidate["fields"] if f["name"] == "candid")["type"] = ["null", "long"]
    return out


def _without_top_level(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The writer schema minus one top-level field, as a rewriting pipeline might leave it."""
    out = copy.deepcopy(schema)
    out["fields"] = [f for f in out["fields"] if f["name"] != name]
    return out


@pytest.fixture(scope="module")
def corpus(real_402_record: dict[str, Any], schema_402: dict[str, Any], good_402: bytes) -> dict[str, bytes]:
    """One payload per kind of bad input, derived from a real 4.02 alert."""
    rec = real_402_record
    nullable = _nullable_candid(schema_402)
    no_candid = copy.deepcopy(rec)
    no_candid["candid"] = None  # nowhere: not at the top level, not in candidate
    no_candid["candidate"]["candid"] = None
    unknown = copy.deepcopy(rec)
    unknown["schemavsn"] = "9.99"
    other = {
        "type": "record",
        "name": "weather",
        "namespace": "obs",
        "fields": [{"name": "station", "type": "string"}, {"name": "temp", "type": "double"}],
    }
    deflated = encode([_variant(rec, 20)], schema_402, codec="deflate")
    block = _first_block(deflated)
    rng = random.Random(7)
    noise = bytes([0x41]) + rng.randbytes(3000)  # neither container magic nor a Confluent 0x00
    return {
        "truncated": good_402[: len(good_402) // 2],
        "not_avro": noise,
        "unknown_schema": encode([{"station": "palomar", "temp": 12.5}], other),
        "unknown_schema_version": encode([unknown], schema_402),
        "missing_field": encode([no_candid], nullable),
        "non_finite": encode([_variant(rec, 1, magpsf=math.nan)], schema_402),
        "non_finite_ra": encode([_variant(rec, 2, ra=math.inf)], schema_402),
        "oversized": good_402 + b"\0" * 300_000,
        "unknown_confluent_schema_id": b"\x00"
        + (999).to_bytes(4, "big")
        + datum(_variant(rec, 3), schema_402),
        "corrupt_avro": _with_block(deflated, 1, block[: len(block) // 2]),
        "corrupt_record": _with_block(good_402, 1, _bad_union_index(_variant(rec, 4), schema_402)),
        "trailing_bytes": _with_block(good_402, 1, datum(_variant(rec, 5), schema_402) + b"\x00\x01\x02"),
    }


EXPECTED = {"non_finite_ra": "non_finite", "corrupt_record": "corrupt_avro", "trailing_bytes": "corrupt_avro"}


@pytest.mark.timeout(120)
def test_each_bad_payload_yields_one_reject_with_its_code(corpus: dict[str, bytes], good_402: bytes) -> None:
    payloads = [good_402, *corpus.values(), good_402]
    result = decode_payloads(pa.array(payloads, pa.binary()), SETTINGS)
    rejects = result.rejects.to_pylist()
    by_row: dict[int, list[dict[str, Any]]] = {}
    for rej in rejects:
        by_row.setdefault(rej["_row"], []).append(rej)
    for row, kind in enumerate(corpus, start=1):
        assert len(by_row.get(row, [])) == 1, (kind, by_row.get(row))
        reject = by_row[row][0]
        assert reject["reason_code"] == EXPECTED.get(kind, kind), (kind, reject)
        assert len(reject["reason"]) > 10
    assert result.alerts.column("_row").to_pylist() == [0, len(payloads) - 1]
    assert set(result.rejects.column("reason_code").to_pylist()) == {
        "truncated",
        "not_avro",
        "unknown_schema",
        "unknown_schema_version",
        "missing_field",
        "non_finite",
        "oversized",
        "unknown_confluent_schema_id",
        "corrupt_avro",
    }


def test_record_rejects_carry_the_ids_they_could_read(corpus: dict[str, bytes]) -> None:
    result = decode_payloads(pa.array([corpus["non_finite"], corpus["unknown_schema_version"]]), SETTINGS)
    rejects = result.rejects.to_pylist()
    assert [r["alert_index"] for r in rejects] == [0, 0]
    assert all(r["candid"] and r["objectId"].startswith("ZTF") for r in rejects)
    assert "magpsf" in rejects[0]["reason"] and "9.99" in rejects[1]["reason"]


def test_payload_rejects_have_no_alert_index(corpus: dict[str, bytes]) -> None:
    result = decode_payloads(pa.array([corpus["truncated"], corpus["not_avro"]]), SETTINGS)
    assert result.rejects.column("alert_index").null_count == 2


def test_a_corrupt_record_inside_a_multi_alert_container_spares_the_records_before_it(
    real_402_record: dict[str, Any], schema_402: dict[str, Any], good_402: bytes
) -> None:
    records = [_variant(real_402_record, k) for k in range(3)]
    block = (
        datum(records[0], schema_402)
        + _bad_union_index(records[1], schema_402)
        + datum(records[2], schema_402)
    )
    result = decode_payloads(pa.array([_with_block(good_402, 3, block)]), SETTINGS)
    assert result.alerts.column("candid").to_pylist() == [records[0]["candid"]]
    assert [(r["reason_code"], r["alert_index"]) for r in result.rejects.to_pylist()] == [
        ("corrupt_avro", 1),
        ("corrupt_avro", 2),
    ]


def test_a_payload_datafusion_refuses_is_isolated_from_its_batch(
    real_402_record: dict[str, Any], schema_402: dict[str, Any], good_402: bytes
) -> None:
    marked = copy.deepcopy(real_402_record)
    marked["objectId"] = "ZTF23zzzzzzz"
    raw = encode([marked], schema_402)
    at = raw.index(b"ZTF23zzzzzzz")
    invalid_utf8 = raw[:at] + b"\xff\xfe" + raw[at + 2 :]  # frames fine, fails DataFusion's UTF-8 check
    payloads = [good_402] * 40
    payloads[7] = payloads[31] = invalid_utf8
    result = decode_payloads(pa.array(payloads), SETTINGS)
    assert result.alerts.column("_row").to_pylist() == [i for i in range(40) if i not in (7, 31)]
    assert [(r["_row"], r["reason_code"]) for r in result.rejects.to_pylist()] == [
        (7, "corrupt_avro"),
        (31, "corrupt_avro"),
    ]


def test_null_and_empty_payloads_are_rejected_not_raised() -> None:
    result = decode_payloads(pa.array([None, b""], pa.binary()), SETTINGS)
    assert result.rejects.column("reason_code").to_pylist() == ["not_avro", "not_avro"]
    assert result.alerts.num_rows == 0 and result.cutouts.num_rows == 0


@pytest.mark.timeout(300)
@pytest.mark.parametrize("codec", ["null", "deflate"])
def test_mutated_alerts_never_raise_or_hang_and_are_all_accounted_for(
    real_402_record: dict[str, Any], schema_402: dict[str, Any], codec: str
) -> None:
    base = encode([real_402_record, real_402_record], schema_402, codec=codec)
    rng = random.Random(11)
    payloads = []
    for _ in range(120):
        data = bytearray(base)
        pos = rng.randrange(len(data) // 3, len(data))
        kind = rng.choice(["flip", "truncate", "insert", "delete"])
        if kind == "flip":
            for _ in range(rng.randint(1, 4)):
                data[rng.randrange(pos, len(data))] = rng.randrange(256)
        elif kind == "truncate":
            del data[pos:]
        elif kind == "insert":
            data[pos:pos] = rng.randbytes(rng.randint(1, 20))
        else:
            del data[pos : pos + rng.randint(1, 20)]
        payloads.append(bytes(data))
    result = decode_payloads(pa.array(payloads, pa.binary()), DecodeSettings())
    seen = set(result.alerts.column("_row").to_pylist()) | set(result.rejects.column("_row").to_pylist())
    assert seen == set(range(len(payloads)))
    assert result.rejects.num_rows > 0


# --- compression bombs: inflation stops at the cap, the payload becomes an `oversized` reject ----------

BOMB_CODECS = ["deflate", "zstandard", "snappy"]


@pytest.mark.parametrize("codec", BOMB_CODECS)
def test_a_compression_bomb_between_good_alerts_is_an_oversized_reject(codec: str, good_402: bytes) -> None:
    payload = bomb(codec, 5 * SETTINGS.max_alert_bytes)
    compressed = len(payload) - len(SCHEMA_402)
    assert compressed < SETTINGS.max_alert_bytes / 4  # small on the wire: zstd and deflate ~1 KB here
    result = decode_payloads(pa.array([good_402, payload, good_402]), SETTINGS)
    rejects = result.rejects.to_pylist()
    assert [(r["_row"], r["reason_code"]) for r in rejects] == [(1, "oversized")]
    assert str(SETTINGS.max_alert_bytes) in rejects[0]["reason"] and codec in rejects[0]["reason"]
    assert result.alerts.column("_row").to_pylist() == [0, 2]


@pytest.mark.parametrize("codec", BOMB_CODECS)
def test_the_bronze_peek_refuses_a_bomb_too(codec: str) -> None:
    from siskin.alerts.peek import peek_payloads

    peek = peek_payloads(pa.array([bomb(codec, 5 * SETTINGS.max_alert_bytes)]), SETTINGS)
    assert peek.column("peek_error")[0].as_py().startswith("oversized: ")


def test_a_bomb_that_fits_the_cap_still_decodes_its_block() -> None:
    """The cap is a ceiling, not a guess: an all-zero block under it inflates and fails as records instead."""
    payload = bomb("zstandard", SETTINGS.max_alert_bytes // 2)
    result = decode_payloads(pa.array([payload]), SETTINGS)
    assert result.rejects.column("reason_code").to_pylist() == ["corrupt_avro"]


_GIGABYTE_BOMBS = """
import json, resource, sys, time
import pyarrow as pa
sys.path.insert(0, sys.argv[1])
from compression_bombs import container, deflate_bomb, zstd_rle_bomb
from siskin.alerts.avro_container import encode_long
from siskin.alerts.decoder import decode_payloads
from siskin.config import DecodeSettings

snappy_header = encode_long(4 << 30)  # zigzag of 2^32 is the uvarint 2^33: a 8 GiB declaration
blocks = {
    "zstandard": zstd_rle_bomb(4 << 30),
    "deflate": deflate_bomb(1 << 30),
    "snappy": snappy_header + bytes(64) + bytes(4),
}
out = {}
for codec, data in blocks.items():
    for records in (1, 1_000_000):  # a block claiming a million records gets no larger allowance
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.perf_counter()
        result = decode_payloads(pa.array([container(codec, [(records, data)])]), DecodeSettings())
        out[f"{codec}/{records}"] = {
            "codes": result.rejects.column("reason_code").to_pylist(),
            "seconds": time.perf_counter() - t0,
            "grew_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
            "wire": len(data),
        }
print(json.dumps(out))
"""


@pytest.mark.timeout(120)
def test_gigabyte_bombs_are_refused_fast_and_without_the_memory(tmp_path) -> None:
    """4 GiB of zstd in 128 KB, 1 GiB of deflate in 1 MB: refused in well under a second, a worker's peak
    memory grows by at most the per-payload budget (64 x the payload's size here), never by gigabytes."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    run = subprocess.run(
        [sys.executable, "-c", _GIGABYTE_BOMBS, str(tests)], capture_output=True, text=True, timeout=110
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout.strip().splitlines()[-1])
    assert len(results) == 6
    for key, got in results.items():
        assert got["codes"] == ["oversized"], (key, got)
        assert got["seconds"] < 2.0, (key, got)
        assert got["grew_mib"] < 64 * got["wire"] / 2**20 + 80, (key, got)


def test_candid_dropped_by_a_rewriting_pipeline_is_recovered_from_candidate(ztf_alert_dir) -> None:  # noqa: ANN001
    """Real Spark-written alerts (Fink's re-published stream) rewritten without the top-level candid."""
    files = sorted((ztf_alert_dir / "fink-broker-distribute-2023-10").glob("*.avro"))[:12]
    payloads, want = [], []
    for path in files:
        with path.open("rb") as fh:
            reader = fastavro.reader(fh)
            schema = _without_top_level(reader.writer_schema, "candid")
            records = list(reader)
        assert all(r["candid"] == r["candidate"]["candid"] for r in records)
        want += [r["candidate"]["candid"] for r in records]
        payloads.append(encode([{k: v for k, v in r.items() if k != "candid"} for r in records], schema))
    assert "candid" not in {f["name"] for f in schema["fields"]}
    result = decode_payloads(pa.array(payloads, pa.binary()), SETTINGS)
    assert result.rejects.num_rows == 0, result.rejects.to_pylist()[:2]
    assert result.alerts.column("candid").to_pylist() == want
    assert result.cutouts.column("candid").to_pylist() == want


def test_a_null_top_level_candid_is_recovered_and_a_missing_one_everywhere_is_rejected(
    real_402_record: dict[str, Any], schema_402: dict[str, Any]
) -> None:
    nullable = _nullable_candid(schema_402)
    top_null = copy.deepcopy(real_402_record)
    top_null["candid"] = None
    both_null = copy.deepcopy(top_null)
    both_null["candidate"]["candid"] = None
    both_null["objectId"] = "ZTF23nocandid"
    payloads = [encode([top_null], nullable), encode([both_null], nullable)]
    result = decode_payloads(pa.array(payloads, pa.binary()), SETTINGS)
    assert result.alerts.column("candid").to_pylist() == [real_402_record["candidate"]["candid"]]
    assert result.alerts.column("_row").to_pylist() == [0]
    [reject] = result.rejects.to_pylist()
    assert (reject["_row"], reject["reason_code"], reject["objectId"]) == (
        1,
        "missing_field",
        "ZTF23nocandid",
    )
    assert "candid is missing" in reject["reason"] and reject["candid"] is None


def test_a_hostile_record_count_costs_one_reject_not_one_per_declared_record(good_402: bytes) -> None:
    import time

    block = _first_block(good_402)
    started = time.monotonic()
    result = decode_payloads(pa.array([_with_block(good_402, 2**40, block), good_402]), SETTINGS)
    assert time.monotonic() - started < 10
    assert result.alerts.num_rows == 1  # the good payload after it
    rows = result.rejects.to_pylist()
    assert [(r["reason_code"], r["alert_index"]) for r in rows] == [("corrupt_avro", 0)]
    assert "declares 1099511627776 records" in rows[0]["reason"]


def test_records_lost_after_a_corrupt_one_are_summarised_past_a_bound(
    real_402_record: dict[str, Any], schema_402: dict[str, Any], good_402: bytes
) -> None:
    from siskin.alerts.decoder import MAX_LOST_RECORD_ROWS

    count = MAX_LOST_RECORD_ROWS + 500
    block = datum(real_402_record, schema_402) + _bad_union_index(real_402_record, schema_402) + bytes(count)
    result = decode_payloads(pa.array([_with_block(good_402, count, block)]), SETTINGS)
    assert result.alerts.num_rows == 1
    indexes = result.rejects.column("alert_index").to_pylist()
    assert indexes == list(range(1, MAX_LOST_RECORD_ROWS + 2))  # one row each, then one for the rest
    summary = result.rejects.column("reason")[-1].as_py()
    assert f"records {MAX_LOST_RECORD_ROWS + 1}..{count - 1} lost" in summary
