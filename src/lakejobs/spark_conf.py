"""Session settings changed for one block of work, and set back afterwards.

A SparkSession's SQL settings are shared by every thread that uses it: a block that changes one
must be the only user of that setting while it runs (the callers here are a job's own step).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from pyspark.sql import SparkSession


@contextmanager
def temporary_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """Apply ``settings`` inside the block; afterwards each key has its earlier value again
    (a key that had none is unset)."""
    previous = {key: spark.conf.get(key, None) for key in settings}
    try:
        for key, value in settings.items():
            spark.conf.set(key, value)
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
