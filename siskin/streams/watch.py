"""Reading the filter topics back: message counts per topic, and decoded alerts for `siskin streams watch`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from siskin.config import Settings
from siskin.errors import BrokerError
from siskin.streams.avro import confluent_unframe, decode, parse
from siskin.streams.schemas import load_schema


@dataclass(frozen=True)
class TopicCount:
    """One filter's topic and table, with how many messages the topic holds."""

    filter: str
    topic: str
    table: str
    messages: int | None  # None: the topic does not exist (yet)


def _conf(settings: Settings) -> dict[str, Any]:
    from siskin.sources.kafka_security import client_config

    return client_config(settings.kafka, settings.streams.bootstrap)


def topic_counts(settings: Settings, timeout_s: float = 10.0) -> list[TopicCount]:
    """Messages in each enabled filter's topic (high minus low watermark, summed over partitions)."""
    from confluent_kafka import Consumer, TopicPartition

    from siskin.streams.distribute import filters_for, topic_name
    from siskin.streams.tables import filter_table_name

    consumer = Consumer({**_conf(settings), "group.id": "siskin-streams-count", "enable.auto.commit": False})
    out = []
    try:
        existing = consumer.list_topics(timeout=timeout_s).topics
        for survey in ("ztf", "rubin"):
            for f in filters_for(settings, survey):
                topic = topic_name(settings, f.name)
                count = None
                if topic in existing:
                    count = 0
                    for p in existing[topic].partitions:
                        low, high = consumer.get_watermark_offsets(
                            TopicPartition(topic, p), timeout=timeout_s
                        )
                        count += int(high) - int(low)
                out.append(TopicCount(f.name, topic, filter_table_name(f.name), count))
    finally:
        consumer.close()
    return out


def watch(
    settings: Settings,
    topic: str,
    *,
    from_beginning: bool = True,
    max_messages: int | None = None,
    idle_timeout_s: float | None = None,
    group_id: str = "siskin-watch",
) -> Iterator[dict[str, Any]]:
    """Decoded alerts of a filter topic, with the schema published in the lake (either framing)."""
    from confluent_kafka import Consumer

    try:
        schema, sidecar = load_schema(settings.lake_uri, topic)
    except FileNotFoundError:
        raise BrokerError(
            f"no schema published for topic {topic!r} under {settings.lake_uri}/_schemas "
            "(is it a filter topic of this lake? `siskin streams list`)"
        ) from None
    parsed = parse(schema)
    confluent = sidecar.get("framing") == "confluent"
    consumer = Consumer(
        {
            **_conf(settings),
            "group.id": group_id,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": True,
            "topic.metadata.refresh.interval.ms": 5000,  # a topic created later is found within seconds
        }
    )
    consumer.subscribe([topic])
    seen = 0
    last = time.monotonic()
    try:
        while max_messages is None or seen < max_messages:
            msg = consumer.poll(0.5)
            if msg is None or msg.error() is not None:
                if idle_timeout_s is not None and time.monotonic() - last > idle_timeout_s:
                    return
                continue
            last = time.monotonic()
            body = msg.value() or b""
            if confluent:
                _, body = confluent_unframe(body)
            seen += 1
            yield decode(body, parsed)
    finally:
        consumer.close()
