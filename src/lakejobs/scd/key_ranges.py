"""The key ranges a batch of changes touches: literal range predicates that Delta's file
statistics turn into file skipping, for the merge's read of the dimension and for the MERGE.

- Numeric keys (integers, floats) are split at their largest gaps: a batch of clustered keys plus
  a run of new keys gives a few tight ranges instead of one range over the whole table. Two
  integers one apart are never split (no key can fall between them).
- Other keys (strings, dates, decimals) are split into runs of about equal counts.

The batch's distinct keys reach the driver as one sorted array (one row: a Spark job sorts them,
the driver unpickles one list instead of a row object per key), at most
:data:`MAX_COLLECTED_KEYS` of them; a batch with more distinct keys is not restricted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

MAX_COLLECTED_KEYS = 500_000


@dataclass(frozen=True)
class KeyRanges:
    """The ranges of one key column's values, and how many distinct values they hold (None:
    more than :data:`MAX_COLLECTED_KEYS`, and no ranges: nothing is restricted)."""

    column: str
    ranges: tuple[tuple[Any, Any], ...]
    distinct_values: int | None
    data_type: T.DataType | None = None  # the column's type: how its values become literals

    def predicate(self, alias: str | None = None) -> Column:
        """``column`` within one of the ranges (``alias.column`` when ``alias`` is given); true
        when there are no ranges."""
        if not self.ranges:
            return F.lit(True)
        col = F.col(f"{alias}.{self.column}" if alias else self.column)
        condition = F.lit(False)
        for low, high in self.ranges:
            condition = condition | col.between(self._literal(low), self._literal(high))
        return condition

    def _literal(self, value: Any) -> Column:
        # PySpark collects a timestamp_ntz as a naive datetime, and a naive datetime literal is
        # a zoned timestamp read in the driver process's zone, which the comparison then shifts
        # by the session's zone: text cast to timestamp_ntz keeps the wall-clock value exactly.
        if isinstance(self.data_type, T.TimestampNTZType):
            return F.lit(value.isoformat(sep=" ")).cast(T.TimestampNTZType())
        # a zoned timestamp is collected as its microseconds since the epoch (see
        # :func:`key_ranges`): a naive local datetime is ambiguous in a daylight-saving hour
        if isinstance(self.data_type, T.TimestampType):
            return F.timestamp_micros(F.lit(value))
        return F.lit(value)


def key_ranges(keys: DataFrame, column: str, max_ranges: int, *,
               at_most: int | None = None) -> KeyRanges:
    """At most ``max_ranges`` ranges covering the distinct non-null values of ``column``.

    Args:
        keys: rows holding ``column`` (duplicates and nulls are fine).
        column: the key column whose ranges bound the merge (the table's leading key).
        max_ranges: the most ranges to return (each becomes one predicate term).
        at_most: how many rows ``keys`` has at most, when the caller knows (a batch's count):
            at most :data:`MAX_COLLECTED_KEYS` lets one aggregation collect the keys directly;
            otherwise the distinct keys are first limited to that bound.

    Raises:
        ValueError: ``max_ranges`` is below 1.
    """
    if max_ranges < 1:
        raise ValueError(f"max_ranges: expected at least 1, got {max_ranges}")
    data_type = keys.schema[column].dataType
    exact = (F.unix_micros(F.col(column)) if isinstance(data_type, T.TimestampType)
             else F.col(column))
    values = keys.select(exact.alias("v"))
    if at_most is None or at_most > MAX_COLLECTED_KEYS:
        values = values.where(F.col("v").isNotNull()).distinct().limit(MAX_COLLECTED_KEYS + 1)
    # collect_set leaves out nulls and duplicates as it goes: one shuffle of partial sets
    ordered = values.agg(F.array_sort(F.collect_set("v")).alias("values")).first()["values"]
    if len(ordered) > MAX_COLLECTED_KEYS:
        return KeyRanges(column=column, ranges=(), distinct_values=None, data_type=data_type)
    return KeyRanges(column=column, ranges=tuple(split_ranges(ordered, max_ranges)),
                     distinct_values=len(ordered), data_type=data_type)


def split_ranges(ordered: Sequence[Any], max_ranges: int) -> list[tuple[Any, Any]]:
    """At most ``max_ranges`` (low, high) ranges covering ``ordered`` (sorted, distinct)."""
    if not ordered:
        return []
    if len(ordered) == 1 or max_ranges <= 1:
        return [(ordered[0], ordered[-1])]
    if isinstance(ordered[0], int | float):
        # the widest gaps, the earliest first among equal ones
        widest = sorted(range(1, len(ordered)), key=lambda i: ordered[i] - ordered[i - 1],
                        reverse=True)[: max_ranges - 1]
        cuts = sorted(i for i in widest if ordered[i] - ordered[i - 1] > 1)
    else:
        step = math.ceil(len(ordered) / max_ranges)
        cuts = list(range(step, len(ordered), step))
    bounds = [0, *cuts, len(ordered)]
    return [(ordered[a], ordered[b - 1]) for a, b in pairwise(bounds)]
