"""Tables the distribution stage writes: `gold.filter_<name>` per filter, and the marker `ops.distribution`.

A filter table holds the silver rows (alert plus added values) its filter passed, with the filter's
version, keyed by the survey's alert key and partitioned by night. `ops.distribution` has one row per
(micro-batch, filter): how many messages went to the topic, and the topic's end offsets once they were
acknowledged; its commit is the batch's marker (committed last) and the offsets are where the next
batch checks the topic for messages a crashed batch already sent (`siskin.streams.topics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from siskin.lake.catalog import UTC_TS, TableSpec, register, survey_table

DISTRIBUTION = "ops.distribution"
WRITER = "distribute"

DISTRIBUTION_SCHEMA = pa.schema(
    [
        pa.field("query", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("batch_id", pa.int64()),
        pa.field("survey", pa.string()),
        pa.field("filter", pa.string()),
        pa.field("filter_version", pa.string()),
        pa.field("topic", pa.string()),
        pa.field("table", pa.string()),
        pa.field("input_rows", pa.int64()),
        pa.field("passed", pa.int64()),
        pa.field("produced", pa.int64()),  # sent by this run of the batch
        pa.field("already_in_topic", pa.int64()),  # sent by a crashed run of it, not sent again
        pa.field("end_offsets", pa.string()),  # JSON {partition: high watermark} after the batch
        pa.field("committed_at", UTC_TS),
    ]
)


def filter_table_name(name: str) -> str:
    """The gold table of a filter's output."""
    return f"gold.filter_{name}"


def filter_table_schema(survey: str) -> pa.Schema:
    """The survey's silver schema (alert plus added values) and the version of the filter that passed it."""
    silver = survey_table(survey).arrow_schema()
    return silver.append(pa.field("filter_version", pa.string()))


@dataclass(frozen=True)
class _FilterSchema:
    """A survey's filter-table schema, resolved lazily; equal for equal surveys (declaring twice is fine)."""

    survey: str

    def __call__(self) -> pa.Schema:
        return filter_table_schema(self.survey)


def register_filter_table(name: str, survey: str, description: str) -> TableSpec:
    """Declare (idempotently) the gold table of one filter."""
    key = survey_table(survey).key
    return register(
        TableSpec(
            filter_table_name(name),
            f"alerts passed by filter {name}: {description}",
            _FilterSchema(survey),
            partition_by=("night",),
            key=key,
            writer=WRITER,
            survey=None,
            sort_by=key,
        )
    )


def _declare() -> None:
    register(
        TableSpec(
            DISTRIBUTION,
            "one row per distribution micro-batch and filter: messages sent, topic end offsets (marker)",
            DISTRIBUTION_SCHEMA,
            key=("app_id", "batch_id", "filter"),
            writer=WRITER,
        )
    )
    try:
        from siskin.streams.filters.registry import available
    except ModuleNotFoundError:  # the filter registry is optional for the catalog
        return
    for name, cls in available().items():
        register_filter_table(name, cls.survey, cls.description)


_declare()
