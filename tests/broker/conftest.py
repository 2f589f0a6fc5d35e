"""Broker fixtures (see `siskin.broker.testing`)."""

from siskin.broker.testing import embedded_broker, unique_topic  # noqa: F401
