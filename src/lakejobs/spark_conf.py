"""Session settings changed for one block of work, and set back afterwards.

A SparkSession's SQL settings are shared by every thread that uses it: a block that changes one
with :func:`temporary_conf` must be the only user of that setting while it runs (the callers
are a job's own step). :func:`shared_conf` is for blocks that may run in several threads at once
(merges side by side): they share one override, set back when the last of them ends.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

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


@dataclass
class _Override:
    value: str
    previous: str | None
    blocks: int = 0


_LOCK = threading.Lock()
_OVERRIDES: dict[tuple[int, str], _Override] = {}


@contextmanager
def shared_conf(spark: SparkSession, key: str, value: str) -> Iterator[bool]:
    """Set ``key`` to ``value`` inside the block, also while other threads' blocks set it: blocks
    asking the same value share the override, and the last to end sets back the value from before
    the first (:func:`temporary_conf` in two overlapping threads could leave the first thread's
    value behind for good). A block asking another value while one is held runs with the held
    one: for settings that change how work is done, not what it gives. Yields whether the block
    runs with ``value``."""
    slot = (spark._jsparkSession.hashCode(), key)
    with _LOCK:
        override = _OVERRIDES.get(slot)
        if override is None:
            override = _Override(value, spark.conf.get(key, None))
            spark.conf.set(key, value)
            _OVERRIDES[slot] = override  # held only once set
        joined = override.value == value
        override.blocks += joined
    try:
        yield joined
    finally:
        if joined:
            with _LOCK:
                override.blocks -= 1
                if not override.blocks:
                    del _OVERRIDES[slot]
                    if override.previous is None:
                        spark.conf.unset(key)
                    else:
                        spark.conf.set(key, override.previous)
