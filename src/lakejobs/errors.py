"""The one exception hierarchy of lakejobs.

Every error raised on purpose by the library derives from :class:`LakejobsError`. Messages are
written for the person running the job: they name the offending file, key, argument or value and
say what was expected. The CLI and the job entrypoints turn them into one line and a non-zero exit.
"""

from __future__ import annotations


class LakejobsError(Exception):
    """Base class of every error lakejobs raises on purpose."""

    exit_code = 1


class ConfigError(LakejobsError):
    """A configuration file or override is missing, malformed or holds a wrong value."""

    exit_code = 2


class JobArgumentError(LakejobsError):
    """A job was started with a missing or malformed argument."""

    exit_code = 2


class UnknownJobError(LakejobsError):
    """No job is registered under the given name."""

    exit_code = 2


class ContractError(LakejobsError):
    """Data does not match its contract (schema, types, keys) in a way the job cannot quarantine."""


class SecretError(LakejobsError):
    """A secret could not be read from the environment or AWS Secrets Manager."""


class SessionError(LakejobsError):
    """A SparkSession could not be built, or lacks a connector the jobs need."""


class StackError(LakejobsError):
    """The installed pyspark does not belong to a supported Glue stack."""


class InvalidNameError(LakejobsError):
    """A name that comes from data (topic, table, source) is not safe to use in a path."""


class BookmarkError(LakejobsError):
    """Incremental state could not be read or committed."""


class ConservationError(LakejobsError):
    """A stage lost or invented records: rows in != rows out + rows quarantined."""


class LandingConflictError(LakejobsError):
    """A landing write would replace what another streaming query landed."""


class DeltaConflictError(LakejobsError):
    """Concurrent writers kept conflicting with a change of a Delta table beyond its retries."""


class CheckpointError(LakejobsError):
    """A streaming query's checkpoint lacks what Spark writes to it."""


class DataQualityError(LakejobsError):
    """A ``fail``-level data-quality rule failed: the run stopped before writing anything.

    ``summary`` holds the run's data-quality figures for the run log.
    """

    def __init__(self, message: str, summary: dict | None = None) -> None:
        super().__init__(message)
        self.summary = summary or {}


class SchemaRegistryError(LakejobsError):
    """A schema registry could not be reached or gave an answer that is not a schema."""


class KafkaBrokerError(LakejobsError):
    """The local Kafka broker (``lakejobs.local_kafka``) could not be fetched, started or used."""
