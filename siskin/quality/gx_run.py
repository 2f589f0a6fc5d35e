"""Running the suites with Great Expectations on pandas frames, and building its Data Docs in a folder.

GX runs in an ephemeral context (no project folder to keep): one pandas data source, one dataframe asset
per table, one checkpoint for the night whose action writes the Data Docs site into `docs_dir`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from siskin.quality.suites import Check

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """One expectation's result: which suite, what it checked, whether it held, what was observed."""

    suite: str
    expectation: str
    column: str
    success: bool
    observed: str

    def describe(self) -> str:
        return f"{self.suite}: {self.expectation} {self.column}: {self.observed}"


@dataclass(frozen=True)
class Batch:
    """One suite run: the suite's name (a table or `night`), its data, and its checks."""

    suite: str
    frame: Any  # pandas.DataFrame
    checks: list[Check]


def _import_gx() -> Any:
    """Import GX quietly (its import pulls in pyspark's connect client; progress bars off)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx


def _observed(result: dict[str, Any]) -> str:
    if "unexpected_count" in result and result.get("unexpected_count"):
        sample = result.get("partial_unexpected_list") or []
        total = result.get("element_count", "?")
        return f"{result['unexpected_count']} of {total} rows unexpected, e.g. {sample[:3]}"
    if "observed_value" in result:
        return f"observed {result['observed_value']}"
    return "ok"


def validate(batches: list[Batch], docs_dir: Path, run_name: str) -> list[Outcome]:
    """Run every batch's suite in one checkpoint; Data Docs land in `docs_dir`; returns every outcome."""
    gx = _import_gx()
    import great_expectations.expectations as gxe
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    site = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    context.add_data_docs_site(site_name="siskin", site_config=site)
    source = context.data_sources.add_pandas("lake")
    definitions = []
    frames: dict[str, Any] = {}
    for batch in batches:
        asset = source.add_dataframe_asset(batch.suite)
        definition = asset.add_batch_definition_whole_dataframe(batch.suite)
        suite = context.suites.add(gx.ExpectationSuite(name=batch.suite))
        for check in batch.checks:
            suite.add_expectation(getattr(gxe, check.kind)(**check.kwargs))
        vd = context.validation_definitions.add(
            gx.ValidationDefinition(name=batch.suite, data=definition, suite=suite)
        )
        definitions.append(vd)
        frames[batch.suite] = batch.frame
    outcomes: list[Outcome] = []
    # one validation per batch: each needs its own dataframe as batch parameter
    for vd in definitions:
        checkpoint = context.checkpoints.add(
            gx.Checkpoint(
                name=f"night-{vd.name}",
                validation_definitions=[vd],
                actions=[gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["siskin"])],
                result_format="SUMMARY",
            )
        )
        result = checkpoint.run(
            batch_parameters={"dataframe": frames[vd.name]}, run_id=RunIdentifier(run_name=run_name)
        )
        for run_result in result.run_results.values():
            for r in run_result.results:
                config = r.expectation_config
                kwargs = config.kwargs
                column = kwargs.get("column") or ",".join(kwargs.get("column_list") or [])
                outcomes.append(
                    Outcome(vd.name, config.type, column, bool(r.success), _observed(dict(r.result or {})))
                )
    context.build_data_docs(site_names=["siskin"])
    return outcomes
