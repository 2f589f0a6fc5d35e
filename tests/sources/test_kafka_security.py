"""Kafka SASL/SSL settings: librdkafka gets them, while options, checkpoints and errors carry no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from siskin.config import KafkaSettings, Settings
from siskin.errors import ConfigurationError
from siskin.sources.kafka import _client_conf, source_options
from siskin.sources.kafka_offsets import KafkaSourceOptions
from siskin.sources.kafka_security import client_config, resolve_secret, secret_refs

SECRET = "s3cr3t-Rubin-9f1c"
RUBIN = {
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_username": "siskin-broker",
    "ssl_ca_location": "/etc/ssl/rubin-ca.pem",
}


def test_a_password_from_the_environment_reaches_the_client_but_not_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SISKIN_KAFKA__SASL_PASSWORD", SECRET)
    kafka = Settings(kafka=RUBIN).kafka
    assert kafka.sasl_password is not None and SECRET not in repr(kafka)
    conf = client_config(kafka)
    assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "siskin-broker" and conf["sasl.password"] == SECRET
    assert conf["ssl.ca.location"] == "/etc/ssl/rubin-ca.pem"

    options = source_options(kafka)
    assert SECRET not in json.dumps(options)
    assert options["kafkaSecret.sasl.password"] == "env:SISKIN_KAFKA__SASL_PASSWORD"
    parsed = KafkaSourceOptions.parse(options)
    assert SECRET not in repr(parsed)
    resolved = _client_conf(parsed)  # what a Spark task builds when it connects
    assert resolved["sasl.password"] == SECRET and resolved["sasl.mechanism"] == "SCRAM-SHA-512"


def test_a_password_file_is_read_at_connection_time(tmp_path: Path) -> None:
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text(SECRET + "\n")
    kafka = KafkaSettings(**RUBIN, sasl_password_file=str(secret_file))
    options = source_options(kafka)
    assert options["kafkaSecret.sasl.password"] == f"file:{secret_file}"
    parsed = KafkaSourceOptions.parse(options)
    assert _client_conf(parsed)["sasl.password"] == SECRET
    secret_file.write_text("rotated")  # read when connecting, not when the query was planned
    assert _client_conf(parsed)["sasl.password"] == "rotated"


def test_a_secret_given_in_the_toml_file_or_as_an_argument_is_refused() -> None:
    kafka = KafkaSettings(**RUBIN, sasl_password=SECRET)  # not in the environment
    with pytest.raises(ConfigurationError, match="SISKIN_KAFKA__SASL_PASSWORD") as caught:
        secret_refs(kafka)
    assert SECRET not in str(caught.value)


def test_secrets_in_the_free_form_client_settings_are_refused_without_echoing_them() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(kafka={"client": {"sasl.password": SECRET}})
    assert "sasl.password" in str(caught.value) and SECRET not in str(caught.value)
    with pytest.raises(ConfigurationError, match="kafkaSecret.sasl.password"):
        KafkaSourceOptions.parse({"bootstrap": "h:1", "subscribe": "t", "kafka.sasl.password": SECRET})


def test_a_missing_secret_is_a_clear_error_naming_where_it_was_looked_for(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SISKIN_KAFKA__SASL_PASSWORD", raising=False)
    with pytest.raises(ConfigurationError, match="SISKIN_KAFKA__SASL_PASSWORD is not set"):
        resolve_secret("sasl.password", "env:SISKIN_KAFKA__SASL_PASSWORD")
    with pytest.raises(ConfigurationError, match="cannot read the file"):
        resolve_secret("sasl.password", f"file:{tmp_path / 'absent'}")


def test_sasl_needs_a_sasl_protocol() -> None:
    with pytest.raises(ValidationError, match="SASL_SSL or SASL_PLAINTEXT"):
        KafkaSettings(sasl_mechanism="PLAIN")


def test_the_checkpoint_description_drops_a_secret_that_slipped_into_the_options(tmp_path: Path) -> None:
    from siskin.lake.checkpoints import describe_source, read_source

    ckpt = tmp_path / "ckpt"
    options = {"bootstrap": "h:1", "kafka.sasl.password": SECRET, "kafkaSecret.ssl.key.password": "env:X"}
    describe_source(str(ckpt), {"kafka": options})
    assert SECRET not in (ckpt / "siskin_source.json").read_text()
    assert read_source(str(ckpt)) == {"kafka": {"bootstrap": "h:1", "kafkaSecret.ssl.key.password": "env:X"}}
