"""`siskin replay --night N`: rebuild one night's silver tables and the affected gold objects from bronze.

Used after a decoder, quality-cut or model change. The result equals a fresh ingest of the same bronze:
1. take the silver and gold leases (no stream may write those tables meanwhile), and bring silver and
   gold up to date with their inputs, so gold has folded every alert silver holds;
2. journal the night's objects (`<lake>/_replay/<night>.json`): after the delete they cannot be found;
3. delete the night from every table the catalog marks `rebuild="night"`, then decode the night's bronze
   again through the silver stage (commits tagged `siskin.replay`, which the gold stream skips);
4. recompute the journalled objects' gold rows from all of their silver alerts; drop objects left with none;
5. remove the journal. A crash anywhere leaves the journal: rerunning the replay redoes steps 3-5 (with a new
   app id), and the streams refuse to start until it has.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from siskin.gold.inputs import GOLD_INPUT_SCHEMA, SURVEYS, gold_inputs, read_columns
from siskin.gold.merge import GOLD, merge_objects
from siskin.gold.objects import aggregate_alerts, to_gold_table
from siskin.lake.catalog import TableSpec, tables
from siskin.lake.parquet_files import filesystem_for
from siskin.pipeline.lakehouse import Lakehouse
from siskin.silver.batch import SilverStage

REPLAY_META = {"siskin.replay": "true"}


@dataclass
class ReplayReport:
    """What a replay removed and rebuilt."""

    night: int
    bronze_rows: int
    silver_before: int
    silver_after: int
    rejects_after: int
    objects_rebuilt: int
    resumed: bool = False
    class_changes: int = 0


def _journal_path(lake_uri: str, night: int) -> str:
    return f"{lake_uri.rstrip('/')}/_replay/{int(night)}.json"


def unfinished_replays(lake_uri: str) -> list[int]:
    """Nights whose replay started and did not finish."""
    import pyarrow.fs as pafs

    fs, root = filesystem_for(f"{lake_uri.rstrip('/')}/_replay")
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True))
    except OSError:
        return []
    return sorted(
        int(i.base_name[:-5]) for i in infos if i.base_name.endswith(".json") and i.base_name[:-5].isdigit()
    )


def _read_journal(lake_uri: str, night: int) -> dict | None:
    fs, path = filesystem_for(_journal_path(lake_uri, night))
    try:
        with fs.open_input_stream(path) as stream:
            return dict(json.loads(stream.read().decode()))
    except (FileNotFoundError, OSError, ValueError):
        return None


def _write_journal(lake_uri: str, night: int, data: dict) -> None:
    fs, path = filesystem_for(_journal_path(lake_uri, night))
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with fs.open_output_stream(tmp) as out:
        out.write(json.dumps(data).encode())
    fs.move(tmp, path)


def _delete_journal(lake_uri: str, night: int) -> None:
    fs, path = filesystem_for(_journal_path(lake_uri, night))
    try:
        fs.delete_file(path)
    except (FileNotFoundError, OSError):
        pass


def _survey_tables() -> list[TableSpec]:
    return [t for t in tables(writer="silver") if t.survey is not None]


def _night_objects(house: Lakehouse, night: int) -> tuple[set[tuple[str, str]], int]:
    """(survey, objectId) pairs with alerts in the night, and the night's alert count, over every survey."""
    from siskin.lake.transactions import open_table

    objects: set[tuple[str, str]] = set()
    count = 0
    for spec in _survey_tables():
        table = open_table(house.path(spec.name))
        if table is None or spec.survey is None:
            continue
        key = SURVEYS[spec.survey].columns[0]
        data = table.to_pyarrow_dataset().to_table(columns=[key], filter=pc.field("night") == night)
        count += data.num_rows
        ids = pc.unique(pc.cast(data.column(key), pa.string()).drop_null()).to_pylist()
        objects.update((spec.survey, str(i)) for i in ids)
    return objects, count


def _count(uri: str, night: int) -> int:
    from siskin.lake.transactions import open_table

    table = open_table(uri)
    if table is None:
        return 0
    return table.to_pyarrow_dataset().count_rows(filter=pc.field("night") == night)


def object_alerts(house: Lakehouse, objects: set[tuple[str, str]]) -> pd.DataFrame:
    """Every silver alert of these objects in the gold input shape (with its class), all surveys."""
    from siskin.lake.transactions import open_table

    frames = []
    for spec in _survey_tables():
        assert spec.survey is not None
        wanted = sorted(i for s, i in objects if s == spec.survey)
        table = open_table(house.path(spec.name))
        if not wanted or table is None:
            continue
        key = SURVEYS[spec.survey].columns[0]
        dataset = table.to_pyarrow_dataset()
        ids = pc.cast(pa.array(wanted, pa.string()), dataset.schema.field(key).type)
        columns = [c for c in read_columns(spec.survey) if c in dataset.schema.names]
        data = dataset.to_table(columns=columns, filter=pc.field(key).isin(ids))
        data = data.set_column(
            data.schema.get_field_index("night"), "night", data.column("night").cast(pa.int32())
        )
        if data.num_rows:
            frames.append(gold_inputs(spec.survey, data).to_pandas())
    if not frames:
        return GOLD_INPUT_SCHEMA.empty_table().to_pandas()
    return pd.concat(frames, ignore_index=True)


def record_class_changes(house: Lakehouse, alerts: pd.DataFrame, *, app_id: str) -> int:
    """Append to `gold.class_history` each object whose latest class (or its rules' version) in `alerts`
    differs from its gold row: what a replay under new rules changed. Idempotent per `app_id`."""
    from siskin.gold.classes import CLASS_HISTORY, class_changes
    from siskin.gold.merge import read_objects
    from siskin.lake.catalog import table
    from siskin.lake.transactions import append_arrow

    classified = alerts.dropna(subset=["class"])
    if classified.empty:
        return 0
    latest = classified.sort_values(["jd", "candid"], kind="stable").groupby(["survey", "objectId"]).tail(1)
    current = read_objects(house.path(GOLD), latest[["survey", "objectId"]], None)
    changes = class_changes(latest, current, source="reclassify")
    if changes.num_rows:
        spec = table(CLASS_HISTORY)
        append_arrow(house.path(CLASS_HISTORY), changes, spec.partition_by, app_id=app_id, version=0)
    return changes.num_rows


def rebuild_objects(
    house: Lakehouse,
    objects: set[tuple[str, str]],
    *,
    app_id: str,
    alerts: pd.DataFrame | None = None,
) -> int:
    """Recompute gold rows of these objects from all their silver alerts; drop objects left with none."""
    from siskin.lake.transactions import open_table

    if not objects:
        return 0
    if alerts is None:
        alerts = object_alerts(house, objects)
    found = set(zip(alerts["survey"], alerts["objectId"], strict=True))
    frames = [alerts] if len(alerts) else []
    gold_uri = house.path(GOLD)
    gone = sorted(objects - found)
    gold = open_table(gold_uri)
    if gone and gold is not None:
        from deltalake import CommitProperties

        for survey in sorted({s for s, _ in gone}):
            quoted = ", ".join("'" + i.replace("'", "''") + "'" for s, i in gone if s == survey)
            gold.delete(
                f"survey = '{survey}' AND objectId IN ({quoted})",
                commit_properties=CommitProperties(custom_metadata=REPLAY_META),
            )
    if not frames:
        return 0
    rows: pd.DataFrame = aggregate_alerts(alerts, house.settings.gold.buckets)
    positions = alerts[["survey", "objectId", "ra", "dec"]]  # bound the sky cells the MERGE searches
    merge_objects(
        gold_uri, to_gold_table(rows), app_id=app_id, version=0, metadata=REPLAY_META, positions=positions
    )
    return len(rows)


def _bronze_refs(house: Lakehouse, night: int):  # type: ignore[no-untyped-def]
    """The night's bronze data files, as a DataFrame of file references for the silver stage's tasks."""
    from siskin.lake.delta_source import DataFile, file_refs_batch
    from siskin.lake.transactions import open_table

    table = open_table(house.path("bronze.alerts"))
    actions = [] if table is None else pa.table(table.get_add_actions(flatten=True)).to_pylist()
    files = [
        DataFile(a["path"], {"night": str(night)}, a.get("num_records"))
        for a in actions
        if str(a.get("partition.night")) == str(night)
    ]
    refs = pa.Table.from_batches([file_refs_batch(files)])
    return house.spark.createDataFrame(refs).repartition(max(1, min(len(files), 64)))


def replay_night(house: Lakehouse, night: int) -> ReplayReport:
    """Delete and rebuild one night's silver tables and its objects' gold rows, exactly and crash-safely."""
    from siskin.lake.transactions import open_table

    lake = house.lake
    house.hold(["silver", "gold"], f"siskin replay --night {night}")
    house.ensure_tables()
    journal = _read_journal(lake, night)
    resumed = journal is not None
    if journal is None and _count(house.path("bronze.alerts"), night) == 0:
        from siskin.errors import SiskinError

        house.release()
        raise SiskinError(f"bronze holds no input for night {night}: nothing to replay (nights are YYYYMMDD)")
    if journal is None:
        house.run_downstream_available_now()  # gold must have folded everything silver holds
        objects, silver_before = _night_objects(house, night)
        journal = {
            "night": int(night),
            "objects": sorted(objects),
            "silver_before": silver_before,
            "run": uuid.uuid4().hex,
        }
        _write_journal(lake, night, journal)
    before = {(s, i) for s, i in journal["objects"]}
    from deltalake import CommitProperties

    for spec in tables():
        if spec.rebuild != "night":
            continue
        table = open_table(house.path(spec.name))
        if table is not None:
            table.delete(
                f"night = {int(night)}", commit_properties=CommitProperties(custom_metadata=REPLAY_META)
            )
    run = uuid.uuid4().hex
    stage = SilverStage(house.settings, app_id=f"siskin-replay-{night}-{run}", query="replay", replay=True)
    stage(_bronze_refs(house, night), 0)
    after, silver_after = _night_objects(house, night)
    alerts = object_alerts(house, before | after)
    # the journal's run id keeps the history append idempotent when a crashed replay is resumed
    history_app = f"siskin-replay-classes-{night}-{journal.get('run', run)}"
    changes = record_class_changes(house, alerts, app_id=history_app)
    rebuilt = rebuild_objects(
        house, before | after, app_id=f"siskin-replay-gold-{night}-{run}", alerts=alerts
    )
    _delete_journal(lake, night)
    return ReplayReport(
        night,
        _count(house.path("bronze.alerts"), night),
        int(journal["silver_before"]),
        silver_after,
        _count(house.path("silver.rejects"), night),
        rebuilt,
        resumed,
        changes,
    )
