"""Science in the silver stage: every enabled module runs over each decoded batch, inside the Spark task.

Modules are built once per worker process (per settings) and bound to the deployment there. A module
that raises on a batch does not stop the stream: its outputs and its `<name>_version` stay null for
that batch (so the rows say they were not scored), the error is logged with the module's name, and the
nightly reclassification fills them in later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import pyarrow as pa

from siskin.config import Settings
from siskin.science.base import ScienceError, ScienceModule
from siskin.science.registry import build
from siskin.science.runner import dependency_order, missing_inputs, run_modules

log = logging.getLogger(__name__)

_BUILT: dict[tuple[str, str], list[ScienceModule]] = {}
_LOCK = threading.Lock()


def enabled_modules(settings: Settings, survey: str) -> list[ScienceModule]:
    """The survey's enabled modules, configured and bound, in dependency order (cached per process)."""
    key = (survey, settings.science.model_dump_json(include={"modules", "module_config"}) + settings.lake_uri)
    with _LOCK:
        if key not in _BUILT:
            from siskin.science.registry import available

            names = settings.science.modules
            mine = list(available(survey)) if names is None else [n for n in names if n in available(survey)]
            configs = {n: c for n, c in settings.science.module_config.items() if n in mine}
            modules = dependency_order(build(mine, survey=survey, configs=configs))
            check_inputs(modules, survey)
            for module in modules:
                module.bind(settings)
            _BUILT[key] = modules
        return _BUILT[key]


def check_inputs(modules: Sequence[ScienceModule], survey: str) -> None:
    """Refuse, before any batch, modules whose required inputs neither silver nor an earlier module has."""
    from siskin.alerts.decoder import silver_alert_schema
    from siskin.silver.transform import PROCESSING

    schema = pa.schema([*silver_alert_schema(survey), *PROCESSING])
    produced: set[str] = set()
    for module in modules:
        if gaps := missing_inputs(schema.empty_table(), module, produced):
            raise ScienceError(
                f"science module {module.name} needs {', '.join(gaps)}: not in {survey} silver"
            )
        produced.update(o.name for o in module.outputs)


def science_columns(alerts: pa.Table, modules: Sequence[ScienceModule]) -> dict[str, pa.Array]:
    """Every module's outputs and version column for `alerts` (null for a module that failed)."""
    columns: dict[str, pa.Array] = {}
    working = alerts
    for module in modules:
        try:
            out = run_modules(working, [module])
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # noqa: BLE001 - one module's crash (a Rust panic too) must not stall the stream
            log.exception(
                "science module %s %s failed on a batch of %d alerts; its outputs stay null",
                module.name,
                module.version,
                alerts.num_rows,
            )
            continue
        for name in out.column_names:
            values = out.column(name).combine_chunks()
            columns[name] = values
            index = working.schema.get_field_index(name)
            field = out.schema.field(name)
            working = (
                working.set_column(index, field, values)
                if index >= 0
                else working.append_column(field, values)
            )
    return columns
