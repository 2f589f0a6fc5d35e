"""Filters that pass the alerts a class rule fires on, with the rule's own condition and thresholds.

A filter follows its rule, not the final class: an SN candidate that is also a microlensing candidate
is classed Ambiguous but still goes to both streams, as the reference broker's livestream filters do.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa
from pydantic import Field

from siskin.science.classes.rules import RULES, ClassConfig, Columns, Rule
from siskin.streams.filters.base import Filter, FilterConfig, FilterError


class RuleFilterConfig(FilterConfig):
    """The rule thresholds (`siskin.science.classes.rules.ClassConfig`), defaults the broker's."""

    thresholds: ClassConfig = Field(default_factory=ClassConfig)


def rule_named(name: str) -> Rule:
    """The class rule of that name."""
    for rule in RULES:
        if rule.name == name:
            return rule
    raise FilterError(f"no class rule named {name!r}")


def rule_inputs(name: str) -> tuple[str, ...]:
    """Every column the rule reads, its alternatives included."""
    rule = rule_named(name)
    return (*rule.needs, *rule.needs_any)


class RuleFilter(Filter):
    """Passes what one class rule fires on; subclasses name the rule."""

    rule: ClassVar[str]
    Config = RuleFilterConfig

    def missing(self, schema: pa.Schema) -> list[str]:
        """What stops the rule: its required inputs, or all of its alternatives."""
        return rule_named(self.rule).missing(Columns(schema.empty_table()))

    def keep(self, batch: pa.Table) -> pa.Array:
        """The rule's condition over the batch."""
        c = self.config
        assert isinstance(c, RuleFilterConfig)
        fired = rule_named(self.rule).when(Columns(batch), c.thresholds, {})
        return pa.array(np.asarray(fired, dtype=bool))
