"""Per-checkpoint app ids for the idempotent Delta sink.

The app id must be unique per checkpoint: a reset checkpoint that reused an old app id would
see every new batch id as already committed and silently skip it. So the id is a UUID written
into the checkpoint folder the first time, and a new checkpoint gets a new id.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from siskin.lake.parquet_files import filesystem_for

APP_ID_FILE = "siskin_app_id"


def checkpoint_app_id(checkpoint_uri: str, query: str) -> str:
    """The app id bound to this checkpoint, created on first use."""
    fs, root = filesystem_for(checkpoint_uri)
    path = f"{root}/{APP_ID_FILE}"
    try:
        with fs.open_input_stream(path) as stream:
            return stream.read().decode().strip()
    except (FileNotFoundError, OSError):
        pass
    fs.create_dir(root, recursive=True)
    app_id = f"siskin-{query}-{uuid.uuid4().hex}"
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with fs.open_output_stream(tmp) as out:
        out.write(app_id.encode())
    fs.move(tmp, path)
    return app_id


SOURCE_FILE = "siskin_source.json"


def describe_source(checkpoint_uri: str, source: dict[str, Any]) -> None:
    """Record what a query reads (for `siskin status` to measure its lag later), never a secret.

    Kafka options carry only references to secrets (`kafkaSecret.*`); a secret value that slipped into
    them (`kafka.sasl.password`) is dropped here rather than written next to the checkpoint.
    """
    from siskin.sources.kafka_security import without_secrets

    if isinstance(source.get("kafka"), dict):
        source = {**source, "kafka": without_secrets(source["kafka"])}
    fs, root = filesystem_for(checkpoint_uri)
    fs.create_dir(root, recursive=True)
    with fs.open_output_stream(f"{root}/{SOURCE_FILE}") as out:
        out.write(json.dumps(source, sort_keys=True).encode())


def read_source(checkpoint_uri: str) -> dict[str, Any] | None:
    """What `describe_source` recorded, if anything."""
    fs, root = filesystem_for(checkpoint_uri)
    try:
        with fs.open_input_stream(f"{root}/{SOURCE_FILE}") as stream:
            return dict(json.loads(stream.read().decode()))
    except (FileNotFoundError, OSError, ValueError):
        return None
