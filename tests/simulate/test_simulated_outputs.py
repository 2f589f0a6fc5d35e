"""Where simulated alerts go: rates for the publisher, a watched folder, a ZTF archive tarball."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import pytest

from siskin.errors import ConfigurationError
from siskin.simulate import candid_of, parse_rate, write_tarball, write_to_dir

Payloads = list[tuple[int, bytes]]


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("250/s", 250.0),
        ("250", 250.0),
        ("15000/min", 250.0),
        ("2.5/s", 2.5),
        ("3600/h", 1.0),
        (" 10 / sec ", 10.0),
    ],
)
def test_rates_are_read_per_second(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


@pytest.mark.parametrize("text", ["", "fast", "10/day", "0/s", "-5"])
def test_unreadable_or_null_rates_are_rejected_with_an_example(text: str) -> None:
    with pytest.raises(ConfigurationError):
        parse_rate(text)


def test_the_candid_can_be_read_back_from_a_payload(night1_payloads: Payloads) -> None:
    for candid, payload in night1_payloads[:20]:
        assert candid_of(payload) == candid


def test_a_folder_gets_one_complete_file_per_alert_named_by_candid(
    night1_payloads: Payloads, sim: Any, tmp_path: Path
) -> None:
    out = tmp_path / "incoming"
    assert write_to_dir(night1_payloads[:25], out, night=sim.night1) == 25
    files = sorted(out.iterdir())
    assert [f.name for f in files] == sorted(f"{c}.avro" for c, _ in night1_payloads[:25])
    assert all(f.read_bytes() == dict(night1_payloads)[int(f.stem)] for f in files)


def test_a_folder_also_accepts_bare_payloads(night1_payloads: Payloads, sim: Any, tmp_path: Path) -> None:
    assert write_to_dir((p for _, p in night1_payloads[:3]), tmp_path, night=sim.night1) == 3
    assert {f.name for f in tmp_path.iterdir()} == {f"{c}.avro" for c, _ in night1_payloads[:3]}


def test_a_tarball_is_a_reproducible_ztf_public_archive_night(
    night1_payloads: Payloads, sim: Any, tmp_path: Path
) -> None:
    first = tmp_path / "a"
    first.mkdir()
    assert write_tarball(night1_payloads[:10], first, night=sim.night1) == 10
    path = first / f"ztf_public_{sim.night1}.tar.gz"
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert names == [f"{c}.avro" for c, _ in night1_payloads[:10]]
        assert tar.extractfile(names[0]).read() == night1_payloads[0][1]  # type: ignore[union-attr]
    again = tmp_path / "b.tar.gz"
    write_tarball(night1_payloads[:10], again, night=sim.night1)
    assert again.read_bytes() == path.read_bytes()
    assert not list(tmp_path.rglob("*.tmp"))


def test_nights_must_be_dates(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="YYYYMMDD"):
        write_to_dir([], tmp_path, night=20231399)
