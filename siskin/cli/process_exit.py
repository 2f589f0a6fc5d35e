"""End the `siskin` process with the command's exit status, every time.

A batch command whose work succeeded must exit 0: Airflow trusts the status. Letting the interpreter
tear itself down after a Spark command does not guarantee that. Native threads of third-party
libraries outlive the command: pyarrow's global CPU and I/O thread pools (deltalake reads Delta
tables through a Python filesystem handler that those threads call into), py4j's callback and
finalizer threads, deltalake's tokio runtime. When one of them touches Python while the interpreter
finalizes, CPython ends that thread with `pthread_exit`; unwinding through Arrow's C++ frames calls
`std::terminate` ("terminate called without an active exception", status 134), and Arrow's own
exit-time pool shutdown can wait forever for a worker that was ended that way (both reproduced with
a thread scanning a Delta table through `DeltaTable.to_pyarrow_dataset()` while the process exits).

So the process ends in order, and then without the interpreter's teardown: stop Spark (its
executors, Python workers and callback connections), run the `atexit` handlers, flush the standard
streams, and `os._exit` with the status. Nothing the teardown would still do matters to a finished
command: the lake is committed, every file is closed, and the Spark JVM exits when its stdin closes.
This is a deliberate last step for a third-party problem (pyarrow's and py4j's threads at
interpreter exit), not a way to hide errors: the status is the command's own.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import NoReturn

log = logging.getLogger(__name__)

GRACE_S = 120.0  # the longest the orderly part may take before the process exits regardless


def stop_spark() -> None:
    """Stop the active Spark session, if this process started one (a no-op for commands without Spark)."""
    if "pyspark" not in sys.modules:
        return
    from pyspark import SparkContext

    context = SparkContext._active_spark_context
    if context is None:
        return
    try:
        context.setLogLevel("OFF")  # stopping logs the queries and tasks it cuts short; nothing to act on
        context.stop()
    except Exception as exc:  # noqa: BLE001 - the command's status stands; Spark's JVM exits with us
        log.debug("stopping Spark failed: %s", exc)


def _exit_now(status: int) -> None:
    _flush()
    os._exit(status)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or the reader went away
            pass


def end_process(status: int, *, grace_s: float = GRACE_S) -> NoReturn:
    """Stop Spark, run `atexit` handlers, flush stdout/stderr, and exit with `status` (see module doc).

    A watchdog exits with `status` anyway after `grace_s`, should stopping Spark hang.
    """
    watchdog = threading.Timer(grace_s, _exit_now, [status])
    watchdog.daemon = True
    watchdog.start()
    try:
        stop_spark()
        _flush()
        atexit._run_exitfuncs()
    finally:
        _flush()
        os._exit(status)
