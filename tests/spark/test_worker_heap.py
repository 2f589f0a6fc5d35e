"""Workers freeze their long-lived heap after each task, and still reclaim cyclic garbage in time."""

from __future__ import annotations

import gc
import weakref

from siskin.spark import worker_heap


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


def test_the_survivors_of_a_task_are_frozen_and_a_full_collection_reclaims_frozen_cycles() -> None:
    try:
        worker_heap._tasks = 0
        kept = [_Node() for _ in range(100)]
        worker_heap.settle_after_task()
        assert gc.get_freeze_count() >= len(kept)  # out of the collector's walks
        holder = [_cycle()]  # a cycle still in use while a task ends: frozen with the survivors
        node = holder[0]()
        assert node is not None
        worker_heap.settle_after_task()
        ref = holder.pop()
        del node  # now unreachable cyclic garbage, but frozen: ordinary collections skip it
        gc.collect()
        assert ref() is not None
        for _ in range(worker_heap.FULL_EVERY):
            worker_heap.settle_after_task()
        assert ref() is None  # the periodic full collection reclaimed it
    finally:
        gc.unfreeze()
        worker_heap._tasks = 0
