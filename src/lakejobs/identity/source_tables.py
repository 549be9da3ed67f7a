"""Reading the configured source tables of the identity and master-data jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from pyspark.sql import DataFrame

from lakejobs.delta_io import is_delta_table
from lakejobs.errors import ConfigError
from lakejobs.runtime import JobContext

log = logging.getLogger(__name__)

S = TypeVar("S")


def read_sources(
    context: JobContext, sources: Sequence[S], section: str, wanted: Callable[[S], list[str]],
) -> Iterator[tuple[S, str, DataFrame]]:
    """Each source (with ``zone`` and ``table``) that exists, as (source, ``zone.table``, rows).

    A table that does not exist yet is skipped with a warning (a new environment); a column
    ``wanted`` names that the table lacks is a :class:`ConfigError` naming ``section``.
    """
    for source in sources:
        name = f"{source.zone}.{source.table}"
        path = context.paths.table(source.zone, source.table)
        if not is_delta_table(context.spark, path):
            log.warning("%s: %s has no table yet at %s: nothing to read", section, name, path)
            continue
        rows = context.spark.read.format("delta").load(path)
        missing = [c for c in wanted(source) if c.split(".")[0] not in rows.columns]
        if missing:
            raise ConfigError(
                f"{section} ({name}): column(s) {', '.join(missing)} not in the table: "
                f"expected one of {', '.join(sorted(rows.columns))}")
        yield source, name, rows
