"""Publishing alerts: every message acknowledged, stamped with its send time, paced without drift."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from siskin.broker.tansu import EmbeddedBroker, free_port
from siskin.errors import BrokerError
from siskin.sources.kafka_publish import SENT_HEADER, PublishStats, TokenBucket, publish


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_paces_to_the_rate_without_drift() -> None:
    clock = FakeClock()
    bucket = TokenBucket(100.0, burst=1.0, clock=clock, sleep=clock.sleep)
    for _ in range(1001):
        bucket.acquire()
    assert clock.now == pytest.approx(10.0)


def test_token_bucket_catches_up_after_a_stall() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, burst=5.0, clock=clock, sleep=clock.sleep)
    clock.now = 100.0  # the caller was busy for a long time: at most `burst` tokens were saved
    for _ in range(5):
        bucket.acquire()
    assert clock.now == 100.0
    bucket.acquire()
    assert clock.now == pytest.approx(100.1)


def _watermarks(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "t"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5)[1] for p in range(partitions)
        ]
    finally:
        consumer.close()


def test_publish_counts_acknowledged_messages_and_bytes(
    embedded_broker: EmbeddedBroker, unique_topic: str
) -> None:
    embedded_broker.create_topic(unique_topic, partitions=3)
    progress: list[PublishStats] = []
    stats = publish(
        (b"x" * 100 for _ in range(200)),
        unique_topic,
        embedded_broker.bootstrap,
        key_fn=lambda payload: None,
        on_progress=progress.append,
    )
    assert (stats.messages, stats.bytes, stats.failed) == (200, 20_000, 0)
    assert progress[-1].messages == 200
    assert sum(_watermarks(embedded_broker.bootstrap, unique_topic, 3)) == 200


def test_publish_stamps_the_send_time_header(embedded_broker: EmbeddedBroker, unique_topic: str) -> None:
    embedded_broker.create_topic(unique_topic)
    before = time.time_ns()
    publish([b"alert"], unique_topic, embedded_broker.bootstrap)
    consumer = Consumer({"bootstrap.servers": embedded_broker.bootstrap, "group.id": "t"})
    try:
        consumer.assign([TopicPartition(unique_topic, 0, 0)])
        msg = consumer.poll(10)
    finally:
        consumer.close()
    assert msg is not None and msg.error() is None
    headers = msg.headers() or []
    assert isinstance(headers, list)
    sent = int(dict(headers)[SENT_HEADER] or b"")
    assert before <= sent <= time.time_ns()


def test_publish_honours_the_rate(embedded_broker: EmbeddedBroker, unique_topic: str) -> None:
    embedded_broker.create_topic(unique_topic)
    stats = publish((b"x" for _ in range(100)), unique_topic, embedded_broker.bootstrap, rate_per_s=200)
    assert stats.seconds == pytest.approx(0.5, abs=0.2)


def test_publish_raises_when_nothing_is_delivered() -> None:
    with pytest.raises(BrokerError, match="failed"):
        publish(
            [b"lost"],
            "nowhere",
            f"127.0.0.1:{free_port()}",
            client_conf={"message.timeout.ms": 500, "log_level": 0},
            flush_timeout_s=5,
        )
