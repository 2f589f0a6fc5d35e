"""
### catalogs

Load or refresh the reference catalogs, then cross-match the whole history with them. Manual. Conf:
`{"files": {"vsx": "/data/vsx.parquet"}}` loads those files (replacing `catalogs.<name>`); without files,
every loaded catalog whose source file changed since its load (sha256) is reloaded. The cross-match then
reruns over every night for the catalogs loaded or refreshed (`{"all": true}`: every loaded catalog).
Step bodies: `siskin.orchestration.catalogs`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task

from siskin.orchestration import dag_support as ds

ASSETS = ds.lake_assets()


@dag(
    dag_id="catalogs",
    params={
        "files": Param({}, type="object", description="{catalog name: file path} to load"),
        "all": Param(False, type="boolean", description="cross-match every loaded catalog, not only new"),
    },
    doc_md=__doc__,
    **ds.manual_dag("catalogs"),
)
def catalogs() -> None:
    from siskin.config import load_settings
    from siskin.orchestration import catalogs as steps

    @task(
        doc_md="**load**: the given files into `catalogs.<name>`, else reload catalogs whose file changed.",
        outlets=[ASSETS["catalogs.index"]],
    )
    def load() -> list[str]:
        params = get_current_context()["params"]
        settings = load_settings()
        if params.get("files"):
            return sorted(steps.load_files(settings, params["files"])["loaded"])
        return sorted(steps.refresh_changed(settings)["refreshed"])

    @task(
        doc_md="**cross-match history**: every night in the lake against the loaded or refreshed catalogs.",
        inlets=[ASSETS["silver.alerts"], ASSETS["silver.rubin_alerts"], ASSETS["catalogs.index"]],
        outlets=[ASSETS["silver.xmatch"]],
    )
    def xmatch_history(names: list[str]) -> dict:
        everything = bool(get_current_context()["params"].get("all"))
        if not names and not everything:
            return {"catalogs": {}, "note": "no catalog was loaded or changed"}
        return steps.xmatch_history(load_settings(), None if everything else names)

    xmatch_history(load())


catalogs()
