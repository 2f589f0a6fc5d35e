"""The spatial join in Spark: alerts and catalog keyed by HEALPix pixel, then the exact angular separation.

Each alert is exploded to its pixel and its (up to 8) neighbours at an order whose pixels are at least
4 radii wide (`healpix.order_for_radius`); each catalog row's pixel at that order is a shift of its
stored order-29 pixel. An equi-join on the pixel finds every candidate pair exactly once (an alert's
pixels are distinct, a source has one pixel), the separation is the haversine formula in Spark SQL
(exact for small and large angles alike), and pairs beyond the radius are dropped. Nearest-only keeps
the closest source per (alert, catalog).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType

from siskin.config import CatalogSettings, Settings
from siskin.errors import ConfigurationError, LakeError
from siskin.science.xmatch import healpix
from siskin.science.xmatch.catalogs import catalog_uri, safe_name

POSITION_COLUMNS = ("survey", "candid", "objectId", "ra", "dec", "night")


def _explode(order: int) -> object:
    def explode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            ra = batch.column("ra").to_numpy(zero_copy_only=False)
            dec = batch.column("dec").to_numpy(zero_copy_only=False)
            rows, pix = healpix.with_neighbours(ra, dec, order)
            out = pa.Table.from_batches([batch]).take(pa.array(rows))
            yield from out.append_column("pix", pa.array(pix, pa.int64())).to_batches()

    return explode


def explode_pixels(positions: DataFrame, order: int) -> DataFrame:
    """Each position once per pixel of its 3x3 block at `order` (columnar, in mapInArrow)."""
    schema = StructType([*positions.schema.fields, StructField("pix", LongType(), False)])
    return positions.mapInArrow(_explode(order), schema)  # type: ignore[arg-type]


def separation_arcsec(ra1: Column, dec1: Column, ra2: Column, dec2: Column) -> Column:
    """Great-circle distance in arcsec (haversine; positions in degrees)."""
    d1, d2 = F.radians(dec1), F.radians(dec2)
    a = F.pow(F.sin((d2 - d1) / 2), 2) + F.cos(d1) * F.cos(d2) * F.pow(F.sin(F.radians(ra2 - ra1) / 2), 2)
    return F.degrees(2 * F.asin(F.sqrt(F.least(F.lit(1.0), a)))) * 3600.0


def _chosen(catalog_columns: Sequence[str], wanted: Sequence[str]) -> list[tuple[str, str]]:
    """(name shown, catalog table column) for each configured column, by source or Delta-safe name."""
    lower = {c.lower(): c for c in catalog_columns}
    out = []
    for name in wanted:
        for candidate in (name, safe_name(name), f"src_{safe_name(name)}"):
            if candidate.lower() in lower:
                out.append((name, lower[candidate.lower()]))
                break
        else:
            raise ConfigurationError(
                f"catalog has no column {name!r} to bring back (has {list(catalog_columns)})"
            )
    return out


def crossmatch(
    positions: DataFrame,
    catalog: DataFrame,
    *,
    name: str,
    radius_arcsec: float,
    columns: Sequence[str] = (),
    nearest: bool = True,
) -> DataFrame:
    """Matches of `positions` (survey, candid, objectId, ra, dec, night) in a catalog table, as Spark rows."""
    order = healpix.order_for_radius(radius_arcsec)
    shift = 2 * (healpix.MAX_ORDER - order)
    chosen = _chosen(catalog.columns, columns)
    extra = (
        F.create_map(*[x for n, c in chosen for x in (F.lit(n), F.col(c).cast("string"))])
        if chosen
        else F.expr("map()").cast("map<string,string>")
    )
    cat = catalog.select(
        F.shiftright(F.col("hpx29"), shift).alias("pix"),
        F.col("ra").alias("match_ra"),
        F.col("dec").alias("match_dec"),
        F.col("id").alias("match_id"),
        F.col("type").alias("match_type"),
        extra.alias("columns"),
    )
    alerts = positions.select(*POSITION_COLUMNS).where(F.col("ra").isNotNull() & F.col("dec").isNotNull())
    pairs = explode_pixels(alerts, order).join(cat, "pix")
    radius_deg = radius_arcsec / 3600.0
    pairs = pairs.where(F.abs(F.col("match_dec") - F.col("dec")) <= radius_deg * (1 + 1e-9))
    pairs = pairs.withColumn(
        "sep_arcsec", separation_arcsec(F.col("ra"), F.col("dec"), F.col("match_ra"), F.col("match_dec"))
    ).where(F.col("sep_arcsec") <= radius_arcsec)
    if nearest:
        w = Window.partitionBy("survey", "candid").orderBy("sep_arcsec", "match_id")
        pairs = pairs.withColumn("_rank", F.row_number().over(w)).where(F.col("_rank") == 1).drop("_rank")
    return pairs.select(
        "survey",
        "candid",
        "objectId",
        F.lit(name).alias("catalog"),
        "match_id",
        "match_type",
        "sep_arcsec",
        "match_ra",
        "match_dec",
        F.lit(float(radius_arcsec)).alias("radius_arcsec"),
        "columns",
        F.col("night").cast("int").alias("night"),
    )


def alert_positions(
    spark: SparkSession, settings: Settings, surveys: Sequence[str] | None = None, night: int | None = None
) -> DataFrame | None:
    """Positions of the alerts in the surveys' silver tables (one night, or all), None when there are none."""
    from siskin.alerts.registry import codecs
    from siskin.lake.engine import get_engine
    from siskin.lake.transactions import open_table

    engine = get_engine(settings.delta.engine)
    frames = []
    for codec in codecs():
        if surveys and codec.name not in surveys:
            continue
        from siskin.lake.catalog import table

        uri = table(codec.silver_table).path(settings.lake_uri)
        if open_table(uri) is None:
            continue
        df = engine.read(spark, uri)
        if night is not None:
            df = df.where(F.col("night") == int(night))
        frames.append(
            df.select(
                F.lit(codec.name).alias("survey"),
                F.col(codec.alert_key).cast("long").alias("candid"),
                F.col(codec.object_key).cast("string").alias("objectId"),
                F.col("ra").cast("double").alias("ra"),
                F.col("dec").cast("double").alias("dec"),
                F.col("night").cast("int").alias("night"),
            )
        )
    if not frames:
        return None
    out = frames[0]
    for frame in frames[1:]:
        out = out.unionByName(frame)
    return out


@dataclass(frozen=True)
class XmatchRun:
    """What one `siskin xmatch` did."""

    catalog: str
    radius_arcsec: float
    nearest: bool
    surveys: list[str]
    nights: list[int]
    alerts: int
    matches: int
    seconds: float


def catalog_settings(settings: Settings, name: str) -> CatalogSettings:
    """The catalog's configured settings (defaults for an unconfigured catalog)."""
    return settings.science.catalogs.get(name, CatalogSettings())


def run_xmatch(
    settings: Settings,
    catalog: str,
    *,
    radius_arcsec: float | None = None,
    night: int | None = None,
    surveys: Sequence[str] | None = None,
    nearest: bool | None = None,
    spark: SparkSession | None = None,
) -> XmatchRun:
    """Cross-match the lake's alerts (one night or all) with a loaded catalog into `silver.xmatch`."""
    from siskin.lake.engine import get_engine
    from siskin.science.xmatch.results import replace_matches
    from siskin.spark.session import build_spark

    started = time.monotonic()
    config = catalog_settings(settings, catalog)
    radius = float(radius_arcsec if radius_arcsec is not None else config.radius_arcsec)
    if not math.isfinite(radius) or radius <= 0:
        raise ConfigurationError(f"--radius must be a positive number of arcsec, got {radius}")
    keep_nearest = config.nearest if nearest is None else nearest
    uri = catalog_uri(settings, catalog)
    spark = spark or build_spark(settings)
    positions = alert_positions(spark, settings, surveys, night)
    if positions is None:
        raise LakeError(f"no alerts in {settings.lake_uri}: ingest some first")
    positions = positions.cache()
    counts = positions.groupBy("survey", "night").count().collect()
    nights = sorted({int(r["night"]) for r in counts} | ({int(night)} if night is not None else set()))
    from siskin.alerts.registry import codecs

    done_surveys = sorted(surveys) if surveys else [c.name for c in codecs()]
    cat = get_engine(settings.delta.engine).read(spark, uri)
    matched = crossmatch(
        positions, cat, name=catalog, radius_arcsec=radius, columns=config.columns, nearest=keep_nearest
    )
    table = matched.toArrow()
    table = table.append_column(
        "xmatch_time", pa.array([datetime.now(UTC)] * table.num_rows, pa.timestamp("us", tz="UTC"))
    )
    replace_matches(settings.lake_uri, table, catalog, done_surveys, nights)
    positions.unpersist()
    return XmatchRun(
        catalog,
        radius,
        keep_nearest,
        done_surveys,
        nights,
        int(sum(int(r["count"]) for r in counts)),
        table.num_rows,
        time.monotonic() - started,
    )
