"""`sn_candidates`: the SN candidate rule (SuperNNova score, real, young, not a known asteroid)."""

from __future__ import annotations

from siskin.streams.filters.registry import register
from siskin.streams.filters.rule_filter import RuleFilter, rule_inputs


@register
class SNCandidates(RuleFilter):
    """Alerts the SN candidate rule fires on (needs a SuperNNova score)."""

    name = "sn_candidates"
    description = (
        "SN candidates: SuperNNova SN or Ia score > 0.5, real (drb > 0.5, classtar > 0.4), first seen "
        "<= 90 days ago, more than one detection, not a known minor planet, no galactic SIMBAD counterpart"
    )
    version = "1.0.0"
    survey = "ztf"
    rule = "SN candidate"
    inputs = rule_inputs(rule)
