"""Each filter topic's Avro schema, published in the lake: `<lake>/_schemas/<topic>.avsc` and a sidecar.

The sidecar `<topic>.json` says how messages are framed (`fink` or `confluent`) and the schema id the
Confluent framing carries (a hash of the schema text, not an id assigned by a schema registry).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from siskin.streams.avro import avro_schema, parse, schema_id, schema_json

SCHEMA_DIR = "_schemas"


@dataclass(frozen=True)
class TopicSchema:
    """A topic's writer schema, its parsed form, its id, and how its messages are framed."""

    topic: str
    schema: dict[str, Any]
    parsed: Any
    id: int
    framing: str  # "fink" | "confluent"

    @property
    def text(self) -> str:
        return schema_json(self.schema)


def topic_schema(topic: str, arrow: pa.Schema, survey: str, description: str, fink: bool) -> TopicSchema:
    """The schema of a filter topic carrying rows of `arrow`."""
    schema = avro_schema(arrow, "alert", f"siskin.{survey}", doc=description)
    return TopicSchema(topic, schema, parse(schema), schema_id(schema), "fink" if fink else "confluent")


def schema_paths(lake_uri: str, topic: str) -> tuple[str, str]:
    """Where a topic's `.avsc` and its sidecar live."""
    root = f"{lake_uri.rstrip('/')}/{SCHEMA_DIR}"
    return f"{root}/{topic}.avsc", f"{root}/{topic}.json"


def _write(uri: str, text: str) -> None:
    from siskin.lake.parquet_files import filesystem_for

    fs, path = filesystem_for(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    try:
        with fs.open_input_stream(path) as stream:
            if stream.read().decode() == text:
                return
    except (FileNotFoundError, OSError):
        pass
    tmp = f"{path}.tmp"
    with fs.open_output_stream(tmp) as out:
        out.write(text.encode())
    fs.move(tmp, path)


def publish_schema(lake_uri: str, ts: TopicSchema) -> None:
    """Write the topic's `.avsc` (pretty JSON) and sidecar, unless they already say the same."""
    avsc, sidecar = schema_paths(lake_uri, ts.topic)
    _write(avsc, json.dumps(ts.schema, indent=2, sort_keys=True) + "\n")
    meta = {"topic": ts.topic, "schema_id": ts.id, "framing": ts.framing, "avsc": avsc.rsplit("/", 1)[1]}
    _write(sidecar, json.dumps(meta, indent=2, sort_keys=True) + "\n")


def load_schema(lake_uri: str, topic: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A published topic's schema and sidecar."""
    from siskin.lake.parquet_files import filesystem_for

    out = []
    for uri in schema_paths(lake_uri, topic):
        fs, path = filesystem_for(uri)
        with fs.open_input_stream(path) as stream:
            out.append(json.loads(stream.read().decode()))
    return out[0], out[1]
