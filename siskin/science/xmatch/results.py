"""`silver.xmatch`: one row per (alert, catalog source) match, replaced per (survey, night, catalog)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from siskin.science.xmatch.tables import XMATCH, XMATCH_SCHEMA


def _quoted(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def replace_matches(
    lake_uri: str, matches: pa.Table, catalog: str, surveys: Sequence[str], nights: Sequence[int]
) -> None:
    """Replace the catalog's rows of these surveys and nights with `matches`, in one Delta commit.

    Rerunning a cross-match therefore leaves exactly one copy of its matches (idempotent per
    (survey, night, catalog)); nights with no match lose their old rows too.
    """
    from deltalake import CommitProperties, write_deltalake

    from siskin.lake.transactions import ensure_table, forget_table

    uri = XMATCH.path(lake_uri)
    ensure_table(uri, XMATCH_SCHEMA, XMATCH.partition_by, XMATCH.description)
    if not nights:
        return
    predicate = (
        f"catalog = {_quoted([catalog])} AND survey IN ({_quoted(surveys)}) "
        f"AND night IN ({', '.join(str(int(n)) for n in sorted(set(nights)))})"
    )
    write_deltalake(
        uri,
        matches.select(XMATCH_SCHEMA.names).cast(XMATCH_SCHEMA),
        mode="overwrite",
        predicate=predicate,
        partition_by=list(XMATCH.partition_by),
        commit_properties=CommitProperties(
            custom_metadata={"siskin.xmatch.catalog": catalog, "siskin.xmatch.nights": str(sorted(nights))}
        ),
    )
    forget_table(uri)
