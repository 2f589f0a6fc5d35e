"""`early_sn_ia_candidates`: the Early SN Ia candidate rule (SuperNNova + early random forest)."""

from __future__ import annotations

from siskin.streams.filters.registry import register
from siskin.streams.filters.rule_filter import RuleFilter, rule_inputs


@register
class EarlySNIaCandidates(RuleFilter):
    """Alerts the Early SN Ia candidate rule fires on (needs `rf_snia_vs_nonia` and a SuperNNova score)."""

    name = "early_sn_ia_candidates"
    description = (
        "Early SN Ia candidates: SuperNNova SN or Ia score > 0.5, early SN Ia random forest > 0.5, "
        "real (drb > 0.5, classtar > 0.4), <= 20 detections, no galactic SIMBAD counterpart"
    )
    version = "1.0.0"
    survey = "ztf"
    rule = "Early SN Ia candidate"
    inputs = rule_inputs(rule)
