"""Session settings for one piece of work.

A SparkSession's SQL settings are shared by every thread that uses it, and everything it runs
meanwhile reads them. Three ways to set one for a piece of work only:

- :func:`session_with`: a copy of the session holding the settings, for the statements of one
  operation (a MERGE, a VACUUM). Nothing else sees them, and nothing is set back. For settings
  that change what a statement does or records: a Delta transaction id or commit metadata would
  otherwise stamp every commit other threads make meanwhile. With :func:`frame_in`, a frame's
  expressions can be analysed in such a copy (a user's rule without ANSI mode).
- :func:`temporary_conf`: set in the session for a block and set back afterwards; the block must
  be the only user of the setting while it runs (a job's own step).
- :func:`shared_conf`: set in the session for blocks that may run in several threads at once;
  they share one override, set back when the last of them ends. For settings that change how
  work is done, not what it gives, on frames of the session itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from lakejobs._compat import current_stack


def session_with(spark: SparkSession, settings: Mapping[str, str]) -> SparkSession:
    """A copy of ``spark`` whose SQL settings are those of ``spark`` now plus ``settings``.

    The copy shares the SparkContext, cached data, catalog and Delta's log cache with ``spark``
    (a copy costs about a millisecond). A statement runs with the settings of the session of the
    table it acts on: build the ``DeltaTable`` (or the reader) from the copy; frames of ``spark``
    can be its inputs. Spark's own streaming queries copy their session this way
    (``cloneSession``, internal to Spark, on both stacks).
    """
    copy = SparkSession(spark.sparkContext, spark._jsparkSession.cloneSession())
    for key, value in settings.items():
        copy.conf.set(key, value)
    return copy


def frame_in(df: DataFrame, session: SparkSession) -> DataFrame:
    """The query of ``df`` as a frame of ``session`` (``df``'s session or a copy of it: see
    :func:`session_with`). Expressions added to the frame are analysed with ``session``'s
    settings (e.g. ANSI mode off), and keep them when the frame comes back with
    ``frame_in(frame, spark)``; the expressions ``df`` already holds keep theirs."""
    jvm = session.sparkContext._jvm  # type: ignore[union-attr]
    dataset = jvm
    for part in current_stack().dataset_class.split("."):
        dataset = getattr(dataset, part)
    return DataFrame(dataset.ofRows(session._jsparkSession, df._jdf.logicalPlan()), session)


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
