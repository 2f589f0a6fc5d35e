"""dbt marts on the lake: sources from the table catalog, a build through the SQL endpoint, Delta in gold."""

from siskin.marts.build import MartsResult, build

__all__ = ["MartsResult", "build"]
