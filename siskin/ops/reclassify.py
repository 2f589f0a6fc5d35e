"""Reclassification of history: every night in a range replayed through the current science modules.

A new model or rules version changes the scores and classes silver holds. Reclassifying a night is
a replay of it (`siskin.ops.replay`): its silver rows are decoded again from bronze, so every enabled
module runs with its current version, the affected objects' gold rows are recomputed, and each
object whose class (or the rules' version giving it) changed gets a `gold.class_history` row marked
`reclassify`, the previous ones kept. Crash-safe and idempotent per night, like a replay.
"""

from __future__ import annotations

import pyarrow.compute as pc

from siskin.errors import SiskinError
from siskin.ops.replay import ReplayReport, replay_night
from siskin.pipeline.lakehouse import Lakehouse


def bronze_nights(house: Lakehouse, first: int, last: int) -> list[int]:
    """The nights in [first, last] for which bronze holds input."""
    from siskin.lake.transactions import open_table

    table = open_table(house.path("bronze.alerts"))
    if table is None:
        return []
    nights = table.to_pyarrow_dataset().to_table(
        columns=["night"], filter=(pc.field("night") >= first) & (pc.field("night") <= last)
    )
    return sorted({int(n) for n in pc.unique(nights.column("night")).to_pylist()})


def reclassify(house: Lakehouse, first: int, last: int) -> list[ReplayReport]:
    """Replay every night of [first, last] that bronze holds, oldest first; errs when there is none."""
    if first > last:
        raise SiskinError(f"the range is empty: {first} > {last} (nights are YYYYMMDD)")
    nights = bronze_nights(house, first, last)
    if not nights:
        raise SiskinError(f"bronze holds no night between {first} and {last}: nothing to reclassify")
    return [replay_night(house, night) for night in nights]
