"""Writing a filter topic exactly once without Kafka transactions: idempotent producer + candid dedup.

The distribution stage is the only writer of its topics (it holds the `distribute` lease). After each
micro-batch it records, in its marker commit, each topic's end offsets once every message of the batch
was acknowledged. Before producing a batch it compares the topic's end offsets with the recorded ones:
equal means nothing was written since the last committed batch; larger means a batch crashed after
producing some of its messages, and the candids in that tail (message header `siskin_candid`) are read
back and not produced again. So a batch run again after a crash completes the topic, never duplicates.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from siskin.errors import BrokerError

CANDID_HEADER = "siskin_candid"
SENT_HEADER = "siskin_sent_ns"  # the input alert's publish time, carried through for latency

# Unbatched produce requests: the embedded tansu broker advances its high watermark per record batch.
PRODUCER_CONF: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "batch.num.messages": 1,
    "linger.ms": 0,
    "message.max.bytes": 10 * 1024 * 1024,
    "queue.buffering.max.messages": 200_000,
}

Offsets = dict[int, int]


@dataclass
class TopicWriter:
    """A producer, an admin client and a reader for the tails of the topics it writes."""

    conf: dict[str, Any]
    partitions: int = 1
    timeout_s: float = 30.0
    _producer: Any = field(default=None, init=False, repr=False)
    _probe: Any = field(default=None, init=False, repr=False)
    _known: set[str] = field(default_factory=set, init=False, repr=False)

    def producer(self) -> Any:
        from confluent_kafka import Producer

        if self._producer is None:
            self._producer = Producer({**PRODUCER_CONF, **self.conf})
        return self._producer

    def ensure_topic(self, topic: str) -> None:
        """Create the topic unless it exists, and wait until its partitions are visible."""
        if topic in self._known:
            return
        from confluent_kafka import KafkaError, KafkaException
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(self.conf)
        existing = admin.list_topics(timeout=self.timeout_s).topics
        if topic not in existing:
            futures = admin.create_topics([NewTopic(topic, self.partitions, 1)])
            try:
                futures[topic].result(timeout=self.timeout_s)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise BrokerError(f"cannot create filter topic {topic!r}: {exc}") from exc
            deadline = time.monotonic() + self.timeout_s
            while True:
                meta = admin.list_topics(timeout=self.timeout_s).topics.get(topic)
                if meta is not None and meta.error is None and meta.partitions:
                    break
                if time.monotonic() > deadline:
                    raise BrokerError(f"filter topic {topic!r} did not appear within {self.timeout_s}s")
                time.sleep(0.05)
        self._known.add(topic)

    def end_offsets(self, topic: str) -> Offsets:
        """Each partition's high watermark."""
        from confluent_kafka import Consumer, TopicPartition

        if self._probe is None:
            self._probe = Consumer(
                {**self.conf, "group.id": "siskin-distribute-probe", "enable.auto.commit": False}
            )
        meta = self._probe.list_topics(topic, timeout=self.timeout_s).topics[topic]
        return {
            p: int(self._probe.get_watermark_offsets(TopicPartition(topic, p), timeout=self.timeout_s)[1])
            for p in sorted(meta.partitions)
        }

    def candids_between(self, topic: str, start: Offsets, end: Offsets) -> set[int]:
        """The candids (header `siskin_candid`) of the messages in [start, end) of each partition."""
        from confluent_kafka import Consumer, TopicPartition

        wanted = {p: (start.get(p, 0), e) for p, e in end.items() if e > start.get(p, 0)}
        if not wanted:
            return set()
        consumer = Consumer(
            {**self.conf, "group.id": "siskin-distribute-tail", "enable.auto.commit": False,
             "isolation.level": "read_uncommitted"}
        )  # fmt: skip
        found: set[int] = set()
        try:
            consumer.assign([TopicPartition(topic, p, s) for p, (s, _) in wanted.items()])
            done = {p for p, (s, e) in wanted.items() if s >= e}
            deadline = time.monotonic() + self.timeout_s
            while len(done) < len(wanted):
                if time.monotonic() > deadline:
                    raise BrokerError(f"reading back the tail of {topic!r} ({wanted}) timed out")
                messages: list[Any] = consumer.consume(1000, 0.5)
                for msg in messages:
                    if msg.error() is not None:
                        continue
                    headers: list[tuple[str, bytes | None]] = list(msg.headers() or [])
                    found.update(int(v) for k, v in headers if k == CANDID_HEADER and v is not None)
                    partition, offset = int(msg.partition()), int(msg.offset())
                    if offset + 1 >= wanted[partition][1]:
                        done.add(partition)
        finally:
            consumer.close()
        return found

    def produce(
        self,
        topic: str,
        values: list[bytes],
        keys: Sequence[bytes | None],
        candids: list[int],
        sent_ns: list[int | None],
    ) -> None:
        """Send the messages and wait until the broker acknowledged every one (BrokerError otherwise)."""
        producer = self.producer()
        errors: list[str] = []

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for value, key, candid, sent in zip(values, keys, candids, sent_ns, strict=True):
            headers: list[tuple[str, bytes]] = [(CANDID_HEADER, str(candid).encode())]
            if sent is not None:
                headers.append((SENT_HEADER, str(sent).encode()))
            while True:
                try:
                    producer.produce(topic, value=value, key=key, headers=headers, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        remaining = self._flush(producer)
        if remaining or errors:
            raise BrokerError(
                f"producing to {topic!r}: {len(errors)} failed, {remaining} unacknowledged, none "
                f"acknowledged in the last {self.timeout_s:.0f}s (first errors: {errors[:3]})"
            )

    def _flush(self, producer: Any) -> int:
        """Wait for the acknowledgements; give up only when none arrived for `timeout_s` (a stalled
        broker), not when a busy one acknowledges a large batch slowly. Messages still unacknowledged."""
        remaining = len(producer)
        deadline = time.monotonic() + self.timeout_s
        while remaining:
            left = producer.flush(min(5.0, self.timeout_s))
            if left < remaining:
                remaining, deadline = left, time.monotonic() + self.timeout_s
            elif time.monotonic() > deadline:
                break
        return remaining

    def close(self) -> None:
        """Flush and drop the producer."""
        if self._producer is not None:
            self._producer.flush(self.timeout_s)
            self._producer = None
        if self._probe is not None:
            self._probe.close()
            self._probe = None
