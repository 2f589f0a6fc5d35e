"""`finkclass`: the final class of each ZTF alert, from the ordered rules of `siskin.science.classes.rules`.

Named as the reference broker names it, so `siskin compare fink` compares it with the broker's own
`finkclass`. The module's version is the rules' version (`RULES_VERSION`). It requires the columns
silver always has (and `roid`, a Siskin module) and reads the scores and cross-match labels other
modules produce as optional inputs: a rule whose inputs are absent does not fire
(`siskin.science.classes.rules.classify` reports which), it is never fed a made-up value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from siskin.science.base import ModuleConfig, Output, ScienceModule
from siskin.science.classes.rules import RULES_VERSION, ClassConfig, classify, rule_inputs
from siskin.science.registry import register
from siskin.science.tables import ZTF_ALERTS

log = logging.getLogger(__name__)

REQUIRED = ("jd", "jdstarthist", "ndethist", "drb", "classtar", "roid")


@register
class FinkClass(ScienceModule):
    """Final class per alert: a SIMBAD or variable-star label when matched, else the first rule that fires."""

    name = "finkclass"
    version = RULES_VERSION
    survey = "ztf"
    table = ZTF_ALERTS
    inputs = REQUIRED
    optional_inputs = tuple(n for n in rule_inputs() if n not in REQUIRED)
    outputs = (
        Output(
            "finkclass",
            pa.string(),
            "final class: SIMBAD label, '(VSX) type' / '(GCVS) type', or a broker class (Unknown when none)",
        ),
    )
    Config = ClassConfig

    def __init__(self, config: ModuleConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._warned: set[tuple[str, ...]] = set()

    def compute(self, batch: pa.Table) -> Mapping[str, pa.Array]:
        """The rules over whole columns; rules that could not run are logged (once per set of them)."""
        assert isinstance(self.config, ClassConfig)
        result = classify(batch, self.config)
        skipped = tuple(sorted(result.skipped))
        if skipped and skipped not in self._warned:
            self._warned.add(skipped)
            detail = "; ".join(f"{rule} (needs {', '.join(result.skipped[rule])})" for rule in skipped)
            log.warning("finkclass: rules that cannot fire, their inputs are not produced: %s", detail)
        return {"finkclass": result.labels}
