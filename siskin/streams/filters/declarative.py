"""Filters written as configuration: clauses on named columns combined with all/any/not.

A spec is data, validated by pydantic and compiled to `pyarrow.compute` calls from a fixed table of
operators; no part of it is ever parsed as Python, so nothing reaches `eval` or `exec`. Example::

    {"name": "bright_red", "description": "r-band alerts brighter than 18", "version": "1",
     "survey": "ztf",
     "where": {"all": [{"column": "magpsf", "op": "<", "value": 18},
                       {"column": "fid", "op": "==", "value": 2},
                       {"any": [{"column": "drb", "op": ">", "value": 0.8},
                                {"column": "drb", "op": "is_null"}]}]}}

A column is a full silver name (letters, digits and `_`, dotted into structs); an unknown key, an
operator outside the table, or a column name that is not a plain identifier is refused when the spec
is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from siskin.streams.filters.base import Filter, FilterError

Scalar = bool | int | float | str

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
    "==": pc.equal,
    "!=": pc.not_equal,
}
Op = Literal["<", "<=", ">", ">=", "==", "!=", "in", "not_in", "is_null", "not_null", "startswith"]
IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clause(_Node):
    """One test on one column: `column op value`."""

    column: str = Field(pattern=IDENTIFIER, max_length=200)
    op: Op
    value: Scalar | list[Scalar] | None = None

    def columns(self) -> set[str]:
        """The column this clause reads."""
        return {self.column}

    def evaluate(self, read: Callable[[str], pa.Array]) -> pa.Array:
        """The clause's boolean column (null where the input is null, except for the null tests)."""
        values = read(self.column)
        if self.op == "is_null":
            return values.is_null()
        if self.op == "not_null":
            return values.is_valid()
        if self.op in ("in", "not_in"):
            found = pc.is_in(values, value_set=pa.array(self.value))
            found = pc.if_else(values.is_null(), None, found)
            return pc.invert(found) if self.op == "not_in" else found
        if self.op == "startswith":
            return pc.starts_with(values, pattern=str(self.value))
        return _COMPARE[self.op](values, pa.scalar(self.value))

    def check(self) -> None:
        """Refuse values that do not fit the operator."""
        if self.op in ("is_null", "not_null"):
            if self.value is not None:
                raise FilterError(f"{self.column} {self.op} takes no value")
        elif self.op in ("in", "not_in"):
            if not isinstance(self.value, list) or not self.value:
                raise FilterError(f"{self.column} {self.op} needs a non-empty list of values")
        elif self.op == "startswith":
            if not isinstance(self.value, str):
                raise FilterError(f"{self.column} startswith needs a string")
        elif self.value is None or isinstance(self.value, list):
            raise FilterError(f"{self.column} {self.op} needs one value")


class AllOf(_Node):
    """Every sub-expression holds."""

    all: list[Expr] = Field(min_length=1)

    def columns(self) -> set[str]:
        return set().union(*(e.columns() for e in self.all))

    def evaluate(self, read: Callable[[str], pa.Array]) -> pa.Array:
        out = self.all[0].evaluate(read)
        for expr in self.all[1:]:
            out = pc.and_kleene(out, expr.evaluate(read))
        return out

    def check(self) -> None:
        for expr in self.all:
            expr.check()


class AnyOf(_Node):
    """At least one sub-expression holds."""

    any: list[Expr] = Field(min_length=1)

    def columns(self) -> set[str]:
        return set().union(*(e.columns() for e in self.any))

    def evaluate(self, read: Callable[[str], pa.Array]) -> pa.Array:
        out = self.any[0].evaluate(read)
        for expr in self.any[1:]:
            out = pc.or_kleene(out, expr.evaluate(read))
        return out

    def check(self) -> None:
        for expr in self.any:
            expr.check()


class NotOf(_Node):
    """The sub-expression does not hold (null stays null, so it does not pass)."""

    not_: Expr = Field(alias="not")

    def columns(self) -> set[str]:
        return self.not_.columns()

    def evaluate(self, read: Callable[[str], pa.Array]) -> pa.Array:
        return pc.invert(self.not_.evaluate(read))

    def check(self) -> None:
        self.not_.check()


Expr = Clause | AllOf | AnyOf | NotOf
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()


class FilterSpec(_Node):
    """A whole declarative filter: identity and the expression."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)
    description: str
    version: str = "1"
    survey: Literal["ztf", "rubin"] = "ztf"
    where: Expr


class DeclarativeFilter(Filter):
    """A filter compiled from a `FilterSpec`; make one with `from_spec`."""

    spec: ClassVar[FilterSpec]

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | FilterSpec) -> DeclarativeFilter:
        """Validate `spec` (data, never code) and return the filter it describes."""
        try:
            parsed = spec if isinstance(spec, FilterSpec) else FilterSpec.model_validate(dict(spec))
        except ValidationError as exc:
            raise FilterError(f"invalid declarative filter: {exc}") from None
        parsed.where.check()
        attributes = {
            "name": parsed.name,
            "description": parsed.description,
            "version": parsed.version,
            "survey": parsed.survey,
            "inputs": tuple(sorted(parsed.where.columns())),
            "spec": parsed,
        }
        subclass = type(f"Declarative_{parsed.name}", (cls,), attributes)
        made = subclass()
        assert isinstance(made, DeclarativeFilter)
        return made

    def keep(self, batch: pa.Table) -> pa.Array:
        """The compiled expression over the batch's columns."""
        try:
            return self.spec.where.evaluate(lambda path: self.column(batch, path))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise FilterError(f"filter {self.name}: a clause does not fit its column's type: {exc}") from None
