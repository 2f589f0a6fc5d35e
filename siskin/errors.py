"""The typed errors Siskin raises, each with a message a user can act on."""

from __future__ import annotations


class SiskinError(Exception):
    """Base of every error Siskin raises on purpose."""


class ConfigurationError(SiskinError):
    """The settings are inconsistent or point at something that does not exist."""


class DecodeError(SiskinError):
    """An alert payload cannot be decoded; `code` is the stable reject reason code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class LakeError(SiskinError):
    """A lake table is missing, corrupt or was written with an incompatible schema."""


class BrokerError(SiskinError):
    """The Kafka-compatible broker cannot be started or reached."""


class LeaseHeldError(SiskinError):
    """Another live process holds the lease on the tables this command would write."""


class QueryError(SiskinError):
    """A SQL query cannot be parsed, analysed or run as written (syntax, unknown table or column, cast)."""
