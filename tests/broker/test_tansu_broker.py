"""The embedded tansu broker: starts on a free loopback port, serves metadata, stops cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from siskin.broker.tansu import EmbeddedBroker, answers_metadata, free_port, is_listening
from siskin.errors import BrokerError


def test_broker_starts_answers_metadata_and_stops(tmp_path: Path) -> None:
    with EmbeddedBroker(tmp_path) as broker:
        bootstrap = broker.bootstrap
        assert bootstrap.startswith("127.0.0.1:")
        assert is_listening(bootstrap)
        assert answers_metadata(bootstrap)
        assert (tmp_path / "tansu.log").read_text().strip()
    assert not is_listening(bootstrap)


def test_broker_uses_the_port_it_is_given(tmp_path: Path) -> None:
    port = free_port()
    with EmbeddedBroker(tmp_path, port=port) as broker:
        assert broker.bootstrap == f"127.0.0.1:{port}"


def test_a_taken_port_is_a_clear_error(embedded_broker: EmbeddedBroker, tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="already listens"):
        EmbeddedBroker(tmp_path, port=embedded_broker.port).start()


def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="did not come up"):
        EmbeddedBroker(tmp_path, binary=Path("/bin/false"), startup_timeout_s=2).start()


def test_nothing_listens_on_a_free_port() -> None:
    assert not is_listening(f"127.0.0.1:{free_port()}")
    assert not answers_metadata(f"127.0.0.1:{free_port()}", timeout_s=0.5)


def test_create_topic_shows_all_partitions(embedded_broker: EmbeddedBroker) -> None:
    embedded_broker.create_topic("three-partitions", partitions=3)
    embedded_broker.create_topic("three-partitions", partitions=3)  # again: a no-op
    admin = AdminClient({"bootstrap.servers": embedded_broker.bootstrap})
    topic = admin.list_topics(timeout=5).topics["three-partitions"]
    assert sorted(topic.partitions) == [0, 1, 2]
