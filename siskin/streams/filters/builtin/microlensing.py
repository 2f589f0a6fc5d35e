"""`microlensing_candidates`: the Microlensing candidate rule (`mulens` above 0, or labelled ML)."""

from __future__ import annotations

from siskin.streams.filters.registry import register
from siskin.streams.filters.rule_filter import RuleFilter, rule_inputs


@register
class MicrolensingCandidates(RuleFilter):
    """Alerts the Microlensing candidate rule fires on."""

    name = "microlensing_candidates"
    description = "Microlensing candidates: microlensing score mulens > 0 (both bands favour microlensing)"
    version = "1.0.0"
    survey = "ztf"
    rule = "Microlensing candidate"
    inputs = rule_inputs(rule)
