"""A batch's produce waits for acknowledgements as long as they keep arriving, and fails on a stall."""

from __future__ import annotations

import time

from siskin.streams.topics import TopicWriter


class _SlowBroker:
    """A producer whose queue drains by `step` messages per flush call of `pause` seconds, down to `floor`."""

    def __init__(self, queued: int, step: int, pause: float, floor: int = 0) -> None:
        self.queued, self.step, self.pause, self.floor = queued, step, pause, floor

    def __len__(self) -> int:
        return self.queued

    def flush(self, timeout: float) -> int:
        time.sleep(min(self.pause, timeout))
        self.queued = max(self.floor, self.queued - self.step)
        return self.queued


def test_a_slow_but_progressing_broker_is_waited_for_beyond_the_timeout() -> None:
    writer = TopicWriter(conf={}, timeout_s=0.3)
    broker = _SlowBroker(queued=10, step=1, pause=0.1)  # 1 s in all, > 3x the timeout
    started = time.monotonic()
    assert writer._flush(broker) == 0
    assert time.monotonic() - started >= 0.9


def test_a_stalled_broker_fails_after_the_timeout_without_progress() -> None:
    writer = TopicWriter(conf={}, timeout_s=0.3)
    broker = _SlowBroker(queued=10, step=2, pause=0.05, floor=4)  # stalls with 4 unacknowledged
    started = time.monotonic()
    assert writer._flush(broker) == 4
    assert 0.3 <= time.monotonic() - started < 5
