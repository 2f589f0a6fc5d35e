"""Spark Python workers' heap: long-lived objects moved out of the cyclic garbage collector's way.

A Python worker lives as long as the stream and holds, besides the interpreter's modules (scipy,
sklearn, pyarrow, pandas, onnxruntime: hundreds of thousands of objects), every science module's
models and caches. CPython's cyclic collector walks those again and again as a task's allocations
accumulate: profiled with `perf` on the latency benchmark's workers, 85% of their CPU was
`gc_collect_main` and its visitors, not Siskin's work.

After a task, what is still alive is long-lived (the task's own objects are gone with it). One
collection of what is not frozen yet (cheap after the first) and `gc.freeze()` move it to the
permanent generation, which later collections skip. Reference counting still frees everything acyclic;
a frozen object that later becomes part of an unreachable cycle would stay (the worker's long-lived
objects, models and caches of bytes and float tuples, do not form such cycles).
"""

from __future__ import annotations

import gc


def settle_after_task() -> None:
    """Collect what the task left behind, then freeze the survivors (once per task, in the worker)."""
    gc.collect()
    gc.freeze()
