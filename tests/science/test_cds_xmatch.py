"""The CDS xMatch client and modules against a local replay of the service: labels, faults, the breaker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from siskin.config import CdsSettings, Settings
from siskin.dev.cds_replay import ReplayServer
from siskin.science.modules.cdsxmatch import CdsXmatch, GaiaDr3, RubinCdsXmatch
from siskin.science.runner import run_modules
from siskin.science.xmatch.cds import CdsClient, CdsError, multipart, parse_answer, reset_breakers

LABELS = "taxonomy/simbad_cdsxmatch_labels_from_fink_processed_ztf_alerts.csv"


@pytest.fixture(scope="module")
def labels(shared_data: Path) -> pa.Table:
    """The 500 real SIMBAD labels the peer broker gave alert positions."""
    return pacsv.read_csv(
        shared_data / LABELS,
        convert_options=pacsv.ConvertOptions(column_types={"cdsxmatch": pa.string(), "DR3Name": pa.string()}),
    )


@pytest.fixture(scope="module")
def server(shared_data: Path) -> Iterator[ReplayServer]:
    replay = ReplayServer(labels=shared_data / LABELS).start()
    yield replay
    replay.stop()


@pytest.fixture(autouse=True)
def healthy(server: ReplayServer) -> Iterator[None]:
    """Every test starts with a healthy service and closed breakers."""
    server.status, server.delay_seconds, server.malformed = 200, 0.0, False
    reset_breakers()
    yield
    reset_breakers()


def _settings(server: ReplayServer, **cds: object) -> Settings:
    return Settings(science={"cds": {"url": server.url, "backoff_seconds": 0.01, **cds}})


def _module(cls: type, settings: Settings) -> CdsXmatch:
    module = cls()
    module.bind(settings)
    return module


def test_simbad_labels_equal_the_peers_where_it_could_ask(server: ReplayServer, labels: pa.Table) -> None:
    out = run_modules(labels, [_module(CdsXmatch, _settings(server, batch_size=64))], keys=["candid"])
    ours = out["cdsxmatch"].to_pylist()
    theirs = labels["cdsxmatch"].to_pylist()
    asked = [t != "Fail" for t in theirs]
    agree = sum(o == t for o, t, a in zip(ours, theirs, asked, strict=True) if a)
    assert agree == sum(asked)  # every label the peer got, from the service's answers
    assert sum(o not in ("Unknown", "Fail") for o in ours) > 300  # real SIMBAD types, not all Unknown
    assert server.requests >= 8  # 500 positions in batches of 64
    assert "Fail" not in ours


def test_gaia_names_and_parallaxes(server: ReplayServer, labels: pa.Table) -> None:
    out = _module(GaiaDr3, _settings(server)).compute(labels)
    names = out["DR3Name"].to_pylist()
    theirs = [v if v else "Unknown" for v in labels["DR3Name"].to_pylist()]
    assert sum(n.startswith("Gaia DR3 ") for n in names) >= 20
    # rows of one object lie within 1" of each other, so a row the peer left blank may get its twin's name
    assert all(n == t for n, t in zip(names, theirs, strict=True) if t.startswith("Gaia DR3 "))
    plx = out["Plx"].to_numpy(zero_copy_only=False)
    theirs_plx = labels["Plx"].to_numpy(zero_copy_only=False)
    both = np.isfinite(plx) & np.isfinite(theirs_plx)
    assert both.sum() > 0 and np.allclose(plx[both], theirs_plx[both])


def test_rubin_twin_and_positions_without_coordinates(server: ReplayServer, labels: pa.Table) -> None:
    batch = labels.select(["ra", "dec"]).slice(0, 30)
    ra = batch["ra"].to_pylist()
    ra[3] = None
    batch = batch.set_column(0, "ra", pa.array(ra, pa.float64()))
    out = _module(RubinCdsXmatch, _settings(server)).compute(batch)["cdsxmatch"].to_pylist()
    assert out[3] == "Unknown"  # never sent, so never matched
    assert sum(v not in ("Unknown", "Fail") for v in out) > 10


def test_5xx_is_retried_then_fails_and_opens_the_breaker(server: ReplayServer, labels: pa.Table) -> None:
    server.status = 503
    module = _module(CdsXmatch, _settings(server, retries=2, cooldown_seconds=60))
    before = server.requests
    first = module.compute(labels.slice(0, 10))["cdsxmatch"].to_pylist()
    assert first == ["Fail 503"] * 10  # the peer's own Fail value for an HTTP error
    assert server.requests - before == 3  # one try and two retries
    server.status = 200  # the service is back, but the breaker is open: no request, Fail at once
    start = time.monotonic()
    second = module.compute(labels.slice(10, 10))["cdsxmatch"].to_pylist()
    assert second == ["Fail 503"] * 10
    assert server.requests - before == 3
    assert time.monotonic() - start < 0.5


def test_the_breaker_closes_after_the_cooldown(server: ReplayServer, labels: pa.Table) -> None:
    server.status = 500
    module = _module(CdsXmatch, _settings(server, retries=0, cooldown_seconds=0.3))
    assert set(module.compute(labels.slice(0, 5))["cdsxmatch"].to_pylist()) == {"Fail 500"}
    server.status = 200
    time.sleep(0.35)
    again = module.compute(labels.slice(0, 50))["cdsxmatch"].to_pylist()
    assert "Fail 500" not in again and any(v not in ("Unknown", "Fail") for v in again)


def test_a_slow_service_times_out_and_never_blocks_long(server: ReplayServer, labels: pa.Table) -> None:
    server.delay_seconds = 2.0
    module = _module(CdsXmatch, _settings(server, timeout_seconds=0.2, retries=1, cooldown_seconds=60))
    start = time.monotonic()
    out = module.compute(labels.slice(0, 10))["cdsxmatch"].to_pylist()
    took = time.monotonic() - start
    assert out == ["Fail"] * 10
    assert took < 1.5  # two tries of 0.2 s and one short backoff, not the service's 2 s
    start = time.monotonic()
    assert set(module.compute(labels.slice(0, 10))["cdsxmatch"].to_pylist()) == {"Fail"}
    assert time.monotonic() - start < 0.1  # breaker open


def test_malformed_answers_fail_without_retry(server: ReplayServer, labels: pa.Table) -> None:
    server.malformed = True
    module = _module(GaiaDr3, _settings(server, retries=3))
    before = server.requests
    out = module.compute(labels.slice(0, 4))
    assert out["DR3Name"].to_pylist() == ["Fail"] * 4
    assert out["Plx"].null_count == 4
    assert server.requests - before == 1


def test_an_unreachable_service_fails_fast() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = CdsClient(CdsSettings(url=f"http://127.0.0.1:{port}/xmatch/api/v1/sync", backoff_seconds=0.01))
    start = time.monotonic()
    answer = client.xmatch(np.array([10.0, 20.0]), np.array([1.0, 2.0]), "simbad", ["main_type"], 1.0)
    assert answer.failed.all() and list(answer.labels) == ["Fail", "Fail"]
    assert time.monotonic() - start < 1.0


def test_answer_parsing_keeps_the_nearest_and_refuses_garbage() -> None:
    body = b"angDist,ra_in,dec_in,objectId,main_type\n0.9,1,2,1,Star\n0.2,1,2,1,QSO\n0.5,3,4,0,\n"
    got = parse_answer(body, ["main_type"], 3)["main_type"].to_pylist()
    assert got == ["", "QSO", None]  # row 0 matched an object without a type (""); row 2: no match
    with pytest.raises(CdsError):
        parse_answer(b"angDist,objectId\n0.1,0\n", ["main_type"], 1)
    with pytest.raises(CdsError):
        parse_answer(b"angDist,objectId,main_type\n0.1,7,Star\n", ["main_type"], 2)  # a row never sent
    body, content_type = multipart({"cat2": "simbad"}, {"cat1": b"ra_in,dec_in,objectId\n1.0,2.0,0\n"})
    assert content_type.startswith("multipart/form-data; boundary=") and b'name="cat1"' in body
