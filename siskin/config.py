"""One typed settings object for the whole broker.

Values come, in order of precedence, from keyword arguments, environment variables
(`SISKIN_LAKE`, `SISKIN_KAFKA__BOOTSTRAP`, ...: nested keys use `__`), the TOML file named by
`SISKIN_CONFIG` (default `siskin.toml` in the working directory), then the defaults below. The
embedded single-machine default and a cluster differ only in these values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SparkSettings(_Section):
    """Where Spark runs: `local[*]` by default, a `spark://` master on a cluster."""

    master: str = "local[*]"
    app_name: str = "siskin"
    shuffle_partitions: int = 4
    driver_memory: str = "4g"
    log_level: str = "ERROR"
    conf: dict[str, str] = Field(default_factory=dict)


# librdkafka settings that hold secrets: never accepted in `kafka.client` (it travels as plain source options
# into Spark's plan and Siskin's checkpoint description); they come from the environment or a file instead.
KAFKA_SECRET_KEYS = (
    "sasl.password",
    "ssl.key.password",
    "ssl.key.pem",
    "ssl.keystore.password",
    "ssl.truststore.password",
    "sasl.oauthbearer.client.secret",
)


class KafkaSettings(_Section):
    """The alert stream: the embedded broker by default, a real Kafka cluster by configuration.

    Security (the public ZTF and Rubin streams use SASL; Rubin SCRAM over SSL): `security_protocol`,
    `sasl_*` and `ssl_*`. The two secrets, `sasl_password` and `ssl_key_password`, are read only from the
    environment (`SISKIN_KAFKA__SASL_PASSWORD`, `SISKIN_KAFKA__SSL_KEY_PASSWORD`) or from a file
    (`sasl_password_file`, `ssl_key_password_file`); Spark tasks resolve them when they connect, so
    they never travel in query options, checkpoints or logs.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors never echo a secret

    bootstrap: str = "127.0.0.1:9092"
    topics: list[str] = Field(default_factory=lambda: ["ztf-alerts"])
    topic_pattern: str | None = None
    starting_offsets: str = "earliest"
    max_alerts_per_trigger: int = 10000
    alerts_per_partition: int = 2500
    poll_timeout_s: float = 10.0
    group_id: str = "siskin"
    client: dict[str, str] = Field(default_factory=dict)
    embedded: bool = True
    # Offsets deleted by retention before Siskin read them: stop with an error naming them (true, Spark's
    # default), or record the gap in ops.kafka_gaps (shown by `siskin status`) and go on (false).
    fail_on_data_loss: bool = True
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: str | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    ssl_key_password: SecretStr | None = None
    ssl_key_password_file: str | None = None
    ssl_endpoint_identification: bool = True

    @field_validator("client")
    @classmethod
    def _no_secrets_in_client(cls, value: dict[str, str]) -> dict[str, str]:
        """Secrets in the free-form client settings would be copied into query options and checkpoints."""
        leaked = sorted(k for k in value if k.strip().lower() in KAFKA_SECRET_KEYS)
        if leaked:
            raise ValueError(
                f"kafka.client must not hold secrets ({', '.join(leaked)}): set sasl_password or "
                "ssl_key_password through SISKIN_KAFKA__SASL_PASSWORD / SISKIN_KAFKA__SSL_KEY_PASSWORD or "
                "sasl_password_file / ssl_key_password_file"
            )
        return value

    @model_validator(mode="after")
    def _sasl_needs_a_sasl_protocol(self) -> KafkaSettings:
        if self.sasl_mechanism is not None and not self.security_protocol.startswith("SASL_"):
            raise ValueError(
                f"kafka.sasl_mechanism={self.sasl_mechanism} needs security_protocol SASL_SSL or "
                f"SASL_PLAINTEXT, not {self.security_protocol}"
            )
        if self.sasl_password is not None and self.sasl_password_file is not None:
            raise ValueError("give kafka.sasl_password (environment) or sasl_password_file, not both")
        if self.ssl_key_password is not None and self.ssl_key_password_file is not None:
            raise ValueError("give kafka.ssl_key_password (environment) or ssl_key_password_file, not both")
        return self


class DeltaSettings(_Section):
    """Which Delta engine writes the lake: delta-rs (default) or delta-spark on a cluster."""

    engine: Literal["delta-rs", "delta-spark"] = "delta-rs"
    target_file_rows: int = 20000


class QualityCuts(_Section):
    """Silver quality cuts: recorded as a flag plus reason, never used to drop alerts.

    ZTF: real-bogus score, bad pixels, filter. Rubin: no dipole, none of `rubin_bad_flags` set, no PSF-flux
    flag, and PSF flux / error of at least `rubin_psf_snr_min`.
    """

    rb_min: float = 0.55
    nbad_max: int = 0
    excluded_fids: list[int] = Field(default_factory=lambda: [3])
    rubin_psf_snr_min: float = 5.0
    rubin_bad_flags: list[str] = Field(
        default_factory=lambda: [
            "isDipole",
            "pixelFlags_bad",
            "pixelFlags_saturated",
            "pixelFlags_streak",
            "pixelFlags_cr",
            "pixelFlags_edge",
            "pixelFlags_interpolated",
            "psfFlux_flag",
        ]
    )


class DecodeSettings(_Section):
    """How payloads are decoded when they carry no writer schema of their own."""

    ztf_default_schema_version: str = "4.02"
    max_alert_bytes: int = 4 * 1024 * 1024
    confluent_schema_ids: dict[str, str] = Field(default_factory=dict)
    # Rubin schemas are not shipped (GPLv3 package data): Confluent-framed Rubin payloads need a
    # folder laid out as <major>/<minor>/lsst.vX_Y.alert.avsc (the lsst alert_packet schemas).
    rubin_schema_dir: str | None = None


class GoldSettings(_Section):
    """Layout of `gold.objects`: hash buckets of (survey, objectId) as partitions, so a batch rewrites only
    the files holding its objects."""

    buckets: int = 32


class MaintainSettings(_Section):
    """Compaction, retention and log upkeep (`siskin maintain`), and the bounds keeping per-batch costs flat.

    `retention_hours` must exceed both the longest micro-batch (its files exist before its commit) and
    the longest a stream may lag behind (it reads files that compaction has since replaced).
    """

    retention_hours: float = Field(default=168.0, ge=0.0)
    min_retention_hours: float = Field(default=1.0, ge=0.0)  # shorter retention needs --force
    target_file_mb: int = Field(default=128, ge=1)
    checkpoint_interval: int = Field(default=100, ge=1)  # Delta log checkpoint every N commits
    log_retention_days: int = Field(default=7, ge=1)  # log entries older go (after a checkpoint): as VACUUM
    ops_compact_every: int = Field(default=100, ge=1)  # ops.batches: compacted once it holds this many files
    dedup_nights: int = Field(default=3, ge=1)  # silver dedup: nights of keys kept in memory


class CatalogSettings(_Section):
    """How one reference catalog is loaded and cross-matched (`[science.catalogs.<name>]`)."""

    radius_arcsec: float = Field(default=1.5, gt=0.0)
    ra: str | None = None  # source columns; None: recognised by name (ra, RAJ2000, RAdeg, R.A., ...)
    dec: str | None = None
    id: str | None = None  # None: a recognised name column, else the row number
    type: str | None = None
    unit: Literal["deg", "rad"] = "deg"  # numeric coordinates' unit (OpenNGC stores radians)
    table: str | None = None  # SQLite table (default: the one with coordinates)
    columns: list[str] = Field(default_factory=list)  # catalog columns brought back with each match
    nearest: bool = True  # only the nearest match per alert, else every match within the radius


def _default_catalogs() -> dict[str, CatalogSettings]:
    c = CatalogSettings
    return {
        "vsx": c(radius_arcsec=1.5, type="VType"),
        "gcvs": c(radius_arcsec=1.5, type="VarType"),
        "spicy": c(radius_arcsec=1.2, type="class"),
        "mangrove": c(
            radius_arcsec=60.0, id="HyperLEDA_name", columns=["2MASS_name", "lum_dist", "ang_dist"]
        ),
        "3hsp": c(radius_arcsec=60.0, id="3HSP Source name", columns=["BZcat name", "FOM"]),
        "4lac_h": c(radius_arcsec=60.0, id="Source_Name", type="CLASS"),
        "4lac_l": c(radius_arcsec=60.0, id="Source_Name", type="CLASS"),
        "openngc": c(radius_arcsec=60.0, id="name", type="type", unit="rad", table="objects"),
    }


class CdsSettings(_Section):
    """The CDS xMatch service (SIMBAD, Gaia DR3): where it is, and how long a micro-batch may wait for it."""

    url: str = "http://cdsxmatch.u-strasbg.fr/xmatch/api/v1/sync"
    timeout_seconds: float = Field(default=5.0, gt=0)  # per request (connect, then each read)
    batch_size: int = Field(default=10000, ge=1)  # positions per request
    retries: int = Field(default=1, ge=0)  # after a timeout, connection error or 5xx
    backoff_seconds: float = Field(default=0.5, ge=0)  # doubled at each retry
    cooldown_seconds: float = Field(default=300.0, ge=0)  # after a failure, answer Fail without asking
    simbad_radius_arcsec: float = Field(default=1.0, gt=0)
    gaia_radius_arcsec: float = Field(default=1.0, gt=0)
    gaia_catalog: str = "vizier:I/355/gaiadr3"


class ScienceSettings(_Section):
    """Science layer: reference catalogs for the cross-match; entries given in TOML replace the default."""

    catalogs: dict[str, CatalogSettings] = Field(default_factory=_default_catalogs)
    cds: CdsSettings = Field(default_factory=CdsSettings)  # remote cross-match (SIMBAD, Gaia)
    # science modules run in the silver stage: None = every registered module (built-in and plugins)
    modules: list[str] | None = None
    # per module, its typed config (validated by the module's Config; unknown keys are refused)
    module_config: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("catalogs", mode="after")
    @classmethod
    def _keep_defaults(cls, value: dict[str, CatalogSettings]) -> dict[str, CatalogSettings]:
        return {**_default_catalogs(), **value}


class StreamSettings(_Section):
    """Trigger cadence and per-trigger limits of the chained bronze -> silver -> gold queries."""

    trigger_seconds: float = 2.0
    # gold is not on the path to subscribers (bronze -> silver -> distribute is): a longer cadence
    # spreads its per-batch fold and MERGE over more alerts, leaving the CPU to the path
    gold_trigger_seconds: float = Field(default=10.0, gt=0)
    max_files_per_trigger: int = 64
    # a landed file is read once its size and mtime stayed the same over two listings this far apart
    watch_stable_seconds: float = Field(default=2.0, ge=0)


class DistributionSettings(_Section):
    """Filtered streams (`siskin run distribute`): one Kafka topic and one gold table per enabled filter.

    `fink_compat`: the message key holds the writer schema as JSON and the value is schemaless Avro, as
    fink-client's `AlertConsumer` expects; otherwise Confluent framing (magic byte, schema id) and the
    candid as key. The schemas are published as `<lake>/_schemas/<topic>.avsc` either way.
    """

    enabled: bool = False  # run the distribute query with `siskin ingest` (it always runs with `siskin run`)
    topic_prefix: str = "siskin_"
    filters: list[str] | None = None  # None: every registered filter
    filter_configs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    fink_compat: bool = True
    fink_compat_topics: dict[str, bool] = Field(default_factory=dict)  # per filter name, overrides
    bootstrap: str | None = None  # default: kafka.bootstrap (security settings from [kafka])
    partitions: int = Field(default=1, ge=1)


class ExportClause(_Section):
    """One declarative row condition of an export (`column op value`); clauses of a spec are ANDed."""

    column: str
    op: Literal["==", "!=", "<", "<=", ">", ">=", "in", "not_in", "is_null", "not_null"] = "=="
    value: bool | int | float | str | list[bool | int | float | str] | None = None


class ExportSpec(_Section):
    """A nightly export to a collaborator: which rows and columns of which table, in which format, where.

    Files land under `<exports.roots[root]>/<path or the spec's name>/night=<N>/`; `path` is relative and may
    not leave its root (`..`, absolute paths and URIs are refused).
    """

    who: str
    table: str = "silver.alerts"
    where: list[ExportClause] = Field(default_factory=list)
    columns: list[str] = Field(default_factory=list)  # empty: every column
    format: Literal["parquet", "csv", "votable"] = "parquet"
    root: str = "default"
    path: str | None = None
    night_column: str = "night"  # the column naming the night (gold.objects: last_night)


class ExportSettings(_Section):
    """Collaborator exports (`siskin export`): the allowed destination roots and the specs.

    `roots` maps a name to a `file://` URI, a local path or an `s3://bucket/prefix`; `default` is
    `<lake>/_exports` unless given.
    """

    roots: dict[str, str] = Field(default_factory=dict)
    specs: dict[str, ExportSpec] = Field(default_factory=dict)
    max_rows_per_file: int = Field(default=1_000_000, ge=1)


class DataQualitySettings(_Section):
    """Bounds of the nightly data-quality suites (`siskin quality`): ranges and tolerated fractions."""

    magpsf_range: tuple[float, float] = (5.0, 30.0)
    sigmapsf_range: tuple[float, float] = (0.0, 5.0)
    fids: list[int] = Field(default_factory=lambda: [1, 2, 3])
    min_quality_ok_fraction: float = Field(default=0.05, ge=0.0, le=1.0)
    max_reject_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    volume_trailing_nights: int = Field(default=7, ge=1)
    volume_ratio_range: tuple[float, float] = (0.2, 5.0)  # tonight / trailing median
    taxonomy: str | None = None  # class list CSV (default: ../shared/data/taxonomy/fink_types.csv if present)


AirflowRole = Literal["viewer", "user", "op", "admin"]


def _default_airflow_users() -> dict[str, AirflowRole]:
    return {"admin": "admin"}


class AirflowSettings(_Section):
    """`siskin airflow`: where Airflow keeps its state, its metadata database, the UI's address, its users.

    `home` defaults to `<lake>/_airflow` for a local lake (else `~/.siskin/airflow`); `database_url`
    None means SQLite in `home`, else e.g. `postgresql+psycopg2://user:pass@host/airflow`
    (`SISKIN_AIRFLOW__DATABASE_URL`). `users` maps each named user to a SimpleAuthManager role
    (viewer, user, op, admin); each gets a generated password, kept in `home`.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    home: str | None = None
    database_url: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    users: dict[str, AirflowRole] = Field(default_factory=_default_airflow_users)


class SqlEndpointSettings(_Section):
    """`siskin serve sql`: the Spark Thrift Server's address and authentication.

    Bound to loopback by default; any other address needs `auth = "ldap"` (HiveServer2's LDAP
    password check against `ldap_url`), else the endpoint refuses to start. `state_dir` holds the
    running endpoint's address and pid (default `<lake>/_sql_endpoint` for a local lake).
    """

    host: str = "127.0.0.1"
    port: int = Field(default=10000, ge=1, le=65535)
    auth: Literal["none", "ldap"] = "none"
    ldap_url: str | None = None  # e.g. ldaps://ldap.example.org
    ldap_base_dn: str | None = None  # e.g. ou=people,dc=example,dc=org
    state_dir: str | None = None
    start_timeout_s: float = Field(default=180.0, gt=0)
    # local lakes: tables read natively from hard-linked Parquet trees of their latest Delta version
    native: bool = True
    refresh_s: float = Field(default=1.0, gt=0)  # how often new commits, tables and schemas are picked up
    snapshot_grace_s: float = Field(default=900.0, ge=0)  # a superseded version stays readable this long


class Settings(BaseSettings):
    """Everything configurable about a Siskin deployment."""

    model_config = SettingsConfigDict(
        env_prefix="SISKIN_",
        env_nested_delimiter="__",
        extra="forbid",
        hide_input_in_errors=True,  # a validation error must not echo a Kafka secret into a log
    )

    lake: str = "lake"  # a local path, or an object-store URI such as s3://bucket/prefix
    # Spark's streaming checkpoints (default `<lake>/_checkpoints`). Spark writes them through Hadoop
    # filesystems: with the lake on S3 that needs the hadoop-aws jars, or a path every node shares.
    checkpoints: str | None = None
    spark: SparkSettings = Field(default_factory=SparkSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    delta: DeltaSettings = Field(default_factory=DeltaSettings)
    quality: QualityCuts = Field(default_factory=QualityCuts)
    decode: DecodeSettings = Field(default_factory=DecodeSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    streams: DistributionSettings = Field(default_factory=DistributionSettings)
    gold: GoldSettings = Field(default_factory=GoldSettings)
    maintain: MaintainSettings = Field(default_factory=MaintainSettings)
    science: ScienceSettings = Field(default_factory=ScienceSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
    exports: ExportSettings = Field(default_factory=ExportSettings)
    data_quality: DataQualitySettings = Field(default_factory=DataQualitySettings)
    sql_endpoint: SqlEndpointSettings = Field(default_factory=SqlEndpointSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = Path(os.environ.get("SISKIN_CONFIG", "siskin.toml"))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    @field_validator("lake", "checkpoints", mode="before")
    @classmethod
    def _lake_text(cls, value: Any) -> str | None:
        """Keep URIs intact: `Path("s3://b/p")` would collapse the `//`."""
        return None if value is None else str(value)

    @property
    def lake_uri(self) -> str:
        """The lake root as an absolute local path or an object-store URI."""
        return _absolute(str(self.lake))

    @property
    def checkpoints_uri(self) -> str:
        """Where streaming checkpoints live: the `checkpoints` setting, else `<lake>/_checkpoints`."""
        return _absolute(self.checkpoints) if self.checkpoints else f"{self.lake_uri}/_checkpoints"

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with some top-level values replaced (used by the CLI's flags)."""
        return self.model_copy(update=values)


def _absolute(text: str) -> str:
    """An object-store URI as given (no trailing slash), a local path made absolute."""
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).expanduser().resolve())


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment and the TOML file."""
    return Settings(**overrides)
