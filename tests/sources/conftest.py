"""Kafka fixtures: one embedded tansu broker per test module (see `siskin.broker.testing`)."""

from siskin.broker.testing import embedded_broker, unique_topic  # noqa: F401
