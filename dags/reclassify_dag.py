"""
### reclassify

Rerun classification over a date range of history with the current science modules and model versions
(manual, or after a new model version). Conf: `{"first": YYYYMMDD, "last": YYYYMMDD, "force": false}`.
Each night that bronze holds and whose silver rows are not all scored by the current modules (or were
scored before a catalog load) is replayed (`siskin reclassify --from --to`; `force` replays every
night): silver gets the new scores and classes with
their module versions, gold is recomputed, and every object whose class changed gets a
`gold.class_history` row; the previous classes are kept. Step body:
`siskin.orchestration.nightly.reclassify_nights`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from siskin.orchestration import dag_support as ds

ASSETS = ds.lake_assets()


@dag(
    dag_id="reclassify",
    params={
        "first": Param(None, type=["integer", "string"], description="first night, YYYYMMDD"),
        "last": Param(None, type=["null", "integer", "string"], description="last night (default: first)"),
        "force": Param(False, type="boolean", description="replay nights already scored by current modules"),
    },
    doc_md=__doc__,
    **ds.manual_dag("science"),
)
def reclassify() -> None:
    from siskin.config import load_settings
    from siskin.orchestration.nightly import reclassify_nights
    from siskin.orchestration.nights import nights_between

    @task(
        doc_md="**reclassify**: replay each night of the range bronze holds through the current modules "
        "(nights they already scored are skipped, without the leases, unless `force`).",
        inlets=[ASSETS["bronze.alerts"]],
        outlets=[ASSETS["silver.alerts"], ASSETS["silver.rubin_alerts"], ASSETS["gold.objects"]],
        execution_timeout=ds.DEFAULT_ARGS["execution_timeout"] * 6,
    )
    def replay_range() -> dict:
        params = get_current_context()["params"]
        nights = nights_between(params["first"], params.get("last") or params["first"])
        force = bool(params.get("force"))
        return reclassify_nights(load_settings(), nights[0], nights[-1], force=force)

    replay_range()


reclassify()
