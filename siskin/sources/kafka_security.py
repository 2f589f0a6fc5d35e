"""Kafka SASL/SSL settings, with the secrets kept out of everything Spark and Siskin write down.

Spark keeps a data source's options in the query plan, and Siskin records the Kafka source options
next to the checkpoint (for `siskin status`). So the options carry only *references* to secrets,
`kafkaSecret.<librdkafka key>` = `env:VARIABLE` or `file:/path`, and the client that connects (a
Spark task, the driver's planner, the publisher) reads the secret at that moment. A reference names
where the secret is, never what it is.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from siskin.config import KAFKA_SECRET_KEYS, KafkaSettings
from siskin.errors import ConfigurationError

SECRET_OPTION_PREFIX = "kafkasecret."  # source options are matched lower-cased: `kafkaSecret.sasl.password`
_ENV = {"sasl.password": "SISKIN_KAFKA__SASL_PASSWORD", "ssl.key.password": "SISKIN_KAFKA__SSL_KEY_PASSWORD"}


def security_conf(kafka: KafkaSettings) -> dict[str, str]:
    """The non-secret librdkafka security settings (protocol, mechanism, user name, certificate paths)."""
    conf: dict[str, str] = {"security.protocol": kafka.security_protocol}
    optional = {
        "sasl.mechanism": kafka.sasl_mechanism,
        "sasl.username": kafka.sasl_username,
        "ssl.ca.location": kafka.ssl_ca_location,
        "ssl.certificate.location": kafka.ssl_certificate_location,
        "ssl.key.location": kafka.ssl_key_location,
    }
    conf.update({key: value for key, value in optional.items() if value is not None})
    if kafka.security_protocol.endswith("SSL") and not kafka.ssl_endpoint_identification:
        conf["ssl.endpoint.identification.algorithm"] = "none"
    return conf


def secret_refs(kafka: KafkaSettings) -> dict[str, str]:
    """Where each configured secret is: `{"sasl.password": "env:SISKIN_KAFKA__SASL_PASSWORD"}` or `file:`.

    A secret given as a keyword argument or in the TOML file has no such place, and Spark tasks could
    not read it without it travelling in the query plan: that is a ConfigurationError.
    """
    refs = {}
    for key, value, path in (
        ("sasl.password", kafka.sasl_password, kafka.sasl_password_file),
        ("ssl.key.password", kafka.ssl_key_password, kafka.ssl_key_password_file),
    ):
        if path is not None:
            refs[key] = f"file:{Path(path).expanduser().resolve()}"
        elif value is not None:
            variable = _ENV[key]
            if os.environ.get(variable) != value.get_secret_value():
                raise ConfigurationError(
                    f"the Kafka secret {key} must come from the environment variable {variable} or from "
                    f"{key.replace('.', '_')}_file (Spark tasks read it there when they connect, so that it "
                    "never travels in query options or checkpoints), not from the TOML file or arguments"
                )
            refs[key] = f"env:{variable}"
    return refs


def source_security_options(kafka: KafkaSettings) -> dict[str, str]:
    """The `siskin_kafka` options for the security settings: plain keys, and references to the secrets."""
    options = {f"kafka.{key}": value for key, value in security_conf(kafka).items()}
    options.update({f"kafkaSecret.{key}": ref for key, ref in secret_refs(kafka).items()})
    return options


def resolve_secret(key: str, ref: str) -> str:
    """Read one secret from where its reference points (`env:NAME`, `file:/path`), at connection time."""
    kind, _, where = ref.partition(":")
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise ConfigurationError(
                f"Kafka secret {key}: the environment variable {where} is not set in this process (on a "
                f"cluster, set it for the Spark executors too, or use a secret file)"
            )
        return value
    if kind == "file":
        try:
            return Path(where).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(
                f"Kafka secret {key}: cannot read the file {where} ({exc.strerror})"
            ) from None
    raise ConfigurationError(
        f"Kafka secret {key}: reference must be env:VARIABLE or file:/path, not {kind!r}"
    )


def parse_secret_refs(options: Mapping[str, str]) -> dict[str, str]:
    """`kafkaSecret.<key>` options (keys lower-cased) as {librdkafka key: reference}; a secret is refused."""
    plain = sorted(k for k in options if k.startswith("kafka.") and k[len("kafka.") :] in KAFKA_SECRET_KEYS)
    if plain:
        raise ConfigurationError(
            f"option {plain[0]} would put a secret into Spark's query plan and checkpoint: give "
            f"kafkaSecret.{plain[0][len('kafka.') :]}=env:VARIABLE or file:/path instead"
        )
    refs = {
        k[len(SECRET_OPTION_PREFIX) :]: v for k, v in options.items() if k.startswith(SECRET_OPTION_PREFIX)
    }
    for key, ref in refs.items():
        if key not in KAFKA_SECRET_KEYS:
            raise ConfigurationError(f"kafkaSecret.{key}: only {', '.join(KAFKA_SECRET_KEYS)} are secrets")
        if ref.partition(":")[0] not in ("env", "file"):
            raise ConfigurationError(f"kafkaSecret.{key} must be env:VARIABLE or file:/path")
    return refs


def client_config(kafka: KafkaSettings, bootstrap: str | None = None) -> dict[str, Any]:
    """The complete librdkafka settings for a client in this process (publisher, status), secrets resolved."""
    conf: dict[str, Any] = {**security_conf(kafka), **kafka.client}
    conf.update({key: resolve_secret(key, ref) for key, ref in secret_refs(kafka).items()})
    conf["bootstrap.servers"] = bootstrap or kafka.bootstrap
    return conf


def without_secrets(options: Mapping[str, Any]) -> dict[str, Any]:
    """Source options safe to write down: any secret value that slipped in is dropped (references stay)."""
    return {
        k: v
        for k, v in options.items()
        if not (str(k).lower().startswith("kafka.") and str(k).lower()[len("kafka.") :] in KAFKA_SECRET_KEYS)
    }
