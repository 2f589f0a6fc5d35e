"""Pytest fixtures around the embedded broker, importable by any test module or conftest.

Use: `from siskin.broker.testing import embedded_broker, unique_topic  # noqa: F401`.
Lives in the package (not under tests/) because test folders are not importable packages.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from siskin.broker.tansu import EmbeddedBroker, tansu_binary
from siskin.errors import BrokerError

_counter = itertools.count()


@pytest.fixture(scope="module")
def embedded_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A fresh in-memory tansu broker per test module; skips if the binary is not installed."""
    try:
        tansu_binary()
    except BrokerError as exc:
        pytest.skip(str(exc))
    broker = EmbeddedBroker(tmp_path_factory.mktemp("tansu"))
    with broker:
        yield broker


@pytest.fixture
def unique_topic(request: pytest.FixtureRequest) -> str:
    """A topic name no other test in this broker's life uses (tansu keeps topics until it stops)."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    return f"{base}-{os.getpid()}-{next(_counter)}"
