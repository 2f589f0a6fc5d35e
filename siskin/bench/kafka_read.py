"""Micro-benchmark of Kafka message collection: messages/s from the broker into Arrow batches (`read_range`).

Publishes `--messages` payloads of `--size` bytes to one partition of the embedded broker, then times
`read_range` over the whole partition `--repeat` times (the broker serves from memory after the first
read). Prints one JSON object. `python -m siskin.bench.kafka_read --messages 20000 --size 1000`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path


def run(messages: int, size: int, repeat: int) -> dict[str, object]:
    """Publish once, read `repeat` times; rates per read."""
    from siskin.broker.tansu import EmbeddedBroker
    from siskin.sources.kafka import read_range
    from siskin.sources.kafka_offsets import KafkaSourceOptions, OffsetRange
    from siskin.sources.kafka_publish import publish

    payload = os.urandom(size)
    with tempfile.TemporaryDirectory() as work, EmbeddedBroker(Path(work)) as broker:
        topic = "bench-read"
        broker.create_topic(topic, 1)
        publish((payload for _ in range(messages)), topic, broker.bootstrap)
        options = KafkaSourceOptions.parse({"bootstrap": broker.bootstrap, "subscribe": topic})
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            rows = sum(b.num_rows for b in read_range(options, OffsetRange(topic, 0, 0, messages)))
            seconds.append(time.perf_counter() - started)
            assert rows == messages, (rows, messages)
    rates = [messages / s for s in seconds]
    return {
        "messages": messages,
        "size": size,
        "reads": repeat,
        "messages_per_s_median": round(statistics.median(rates)),
        "messages_per_s_range": [round(min(rates)), round(max(rates))],
        "mb_per_s_median": round(statistics.median(rates) * size / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(run(args.messages, args.size, args.repeat)))


if __name__ == "__main__":
    main()
