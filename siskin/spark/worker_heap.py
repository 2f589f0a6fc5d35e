"""Spark Python workers' heap: long-lived objects moved out of the cyclic garbage collector's way.

A Python worker lives as long as the stream and holds, besides the interpreter's modules (scipy,
sklearn, pyarrow, pandas, onnxruntime: hundreds of thousands of objects), every science module's
models and caches. CPython's cyclic collector walks those again and again as a task's allocations
accumulate: profiled with `perf` on the latency benchmark's workers, 85% of their CPU was
`gc_collect_main` and its visitors, not Siskin's work.

At the end of a task, one collection of what is not frozen yet (cheap: what arrived since the last
task) and `gc.freeze()` move the survivors to the permanent generation, which later collections skip.
Reference counting still frees everything acyclic. What was frozen while still in use (the task's own
objects, alive while the task ends) and later became unreachable cyclic garbage is reclaimed by a full
collection every `FULL_EVERY` tasks (unfreeze, collect, freeze again), so the worker's memory stays flat.
"""

from __future__ import annotations

import gc

FULL_EVERY = 64  # tasks between full collections (one full walk of the heap, ~0.1 s)

_tasks = 0


def settle_after_task() -> None:
    """Collect what the task left behind and freeze the survivors (once per task, in the worker)."""
    global _tasks
    _tasks += 1
    if _tasks % FULL_EVERY == 0:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
