"""Publish alert payloads to a Kafka topic: the simulator's and the benchmarks' producer.

Every message carries its send time (`siskin_sent_ns`, wall-clock nanoseconds as ASCII digits) in a
header, which the source exposes as the `sent_ns` column so that end-to-end latency can be measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from siskin.errors import BrokerError

SENT_HEADER = "siskin_sent_ns"

# One message per produce request: the embedded tansu broker advances its high watermark once per
# record *batch*, not per record, so batched produces would hide messages from the source.
DEFAULT_PRODUCER_CONF: dict[str, Any] = {
    "batch.num.messages": 1,
    "linger.ms": 1,
    "message.max.bytes": 10 * 1024 * 1024,
    "queue.buffering.max.messages": 100_000,
}


@dataclass
class PublishStats:
    """What a `publish` call sent: messages and payload bytes acknowledged, and wall seconds."""

    messages: int = 0
    bytes: int = 0
    seconds: float = 0.0
    failed: int = 0

    @property
    def rate_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


@dataclass
class TokenBucket:
    """Paces events to `rate_per_s` on the monotonic clock, allowing bursts of at most `burst`.

    Sleeping a fixed 1/rate per message drifts (each sleep overshoots); this bucket keeps an absolute
    schedule (the "theoretical arrival time" of the next token) and catches up after a slow step
    instead, so the long-run rate stays exact.
    """

    rate_per_s: float
    burst: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _next: float = field(init=False)

    def __post_init__(self) -> None:
        if self.rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be positive, got {self.rate_per_s}")
        self._next = self.clock()

    def acquire(self) -> None:
        """Block until the next token is due, then take it."""
        interval = 1.0 / self.rate_per_s
        now = self.clock()
        due = max(self._next, now - (self.burst - 1.0) * interval)  # unused credit caps at `burst`
        if due > now:
            self.sleep(due - now)
        self._next = due + interval


def publish(
    payloads: Iterable[bytes],
    topic: str,
    bootstrap: str,
    *,
    rate_per_s: float | None = None,
    client_conf: dict[str, Any] | None = None,
    key_fn: Callable[[bytes], bytes | str | None] | None = None,
    on_progress: Callable[[PublishStats], None] | None = None,
    flush_timeout_s: float = 60.0,
) -> PublishStats:
    """Send every payload to `topic`, optionally paced, and wait until the broker acknowledged all.

    Raises `BrokerError` if any message was not delivered. `on_progress` gets a snapshot of the
    acknowledged counts at most once a second.
    """
    from confluent_kafka import KafkaError, Producer

    conf = {**DEFAULT_PRODUCER_CONF, **(client_conf or {}), "bootstrap.servers": bootstrap}
    stats = PublishStats()
    errors: list[str] = []

    def delivered(err: KafkaError | None, msg: Any) -> None:
        if err is not None:
            stats.failed += 1
            if len(errors) < 3:
                errors.append(str(err))
        else:
            stats.messages += 1
            stats.bytes += len(msg.value() or b"")

    producer = Producer(conf)
    bucket = TokenBucket(rate_per_s, burst=max(1.0, rate_per_s / 100)) if rate_per_s else None
    started = time.monotonic()
    next_report = started + 1.0
    for payload in payloads:
        if bucket is not None:
            bucket.acquire()
        key = key_fn(payload) if key_fn is not None else None
        headers: list[tuple[str, str | bytes | None]] = [(SENT_HEADER, str(time.time_ns()).encode())]
        while True:
            try:
                producer.produce(topic, value=payload, key=key, headers=headers, on_delivery=delivered)
                break
            except BufferError:  # local queue full: wait for acknowledgements, then retry
                producer.poll(0.05)
        producer.poll(0)
        if on_progress is not None and time.monotonic() >= next_report:
            stats.seconds = time.monotonic() - started
            on_progress(PublishStats(stats.messages, stats.bytes, stats.seconds, stats.failed))
            next_report += 1.0
    remaining = producer.flush(flush_timeout_s)
    producer.close()  # release its broker connections now, not at garbage collection
    stats.seconds = time.monotonic() - started
    if on_progress is not None:
        on_progress(PublishStats(stats.messages, stats.bytes, stats.seconds, stats.failed))
    if remaining or stats.failed:
        raise BrokerError(
            f"publishing to {topic!r} at {bootstrap}: {stats.failed} messages failed and {remaining} were "
            f"still unacknowledged after {flush_timeout_s:.0f}s (first errors: {errors or 'none'}); "
            "is the broker up and the topic writable?"
        )
    return stats
