"""Table maintenance: compaction (OPTIMIZE, optionally Z-ordered by key) and VACUUM.

The ``maintenance`` job runs both for every table listed under ``maintenance.tables``, with the
retention from config. Neither may change what a table holds: the job checks that the row count
is the same before and after (Delta reads it from the log, so the check costs no scan).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from lakejobs.config import MaintenanceTable
from lakejobs.delta_io import is_delta_table, vacuum
from lakejobs.errors import ConfigError, ConservationError
from lakejobs.incremental import list_files
from lakejobs.runtime import JobContext, JobResult

log = logging.getLogger(__name__)


def optimize_table(spark: SparkSession, path: str, *, zorder_by: Sequence[str] = ()) -> DataFrame:
    """Compact small files (OPTIMIZE); with ``zorder_by`` also cluster rows by those columns.

    Returns:
        Delta's OPTIMIZE metrics.
    """
    optimizer = DeltaTable.forPath(spark, path).optimize()
    if zorder_by:
        return optimizer.executeZOrderBy(*zorder_by)
    return optimizer.executeCompaction()


def vacuum_table(spark: SparkSession, path: str, retention_hours: int, *,
                 allow_short_retention: bool = False) -> int:
    """Delete files the table no longer references and that are older than the retention.

    Returns:
        How many data files were deleted.
    """
    before = len(list_files(spark, path))
    vacuum(spark, path, retention_hours, allow_short_retention=allow_short_retention)
    return before - len(list_files(spark, path))


def maintain_table(context: JobContext, table: MaintenanceTable) -> dict[str, Any]:
    """OPTIMIZE then VACUUM one table; its figures (or why it was skipped)."""
    spark, settings = context.spark, context.settings.maintenance
    path = context.paths.table(table.zone, table.name)
    if not is_delta_table(spark, path):
        return {"skipped": "not a Delta table (yet)"}
    held = spark.read.format("delta").load(path)
    # a typo in the config, named as one before any work (Delta's own error is a stack trace)
    unknown = [c for c in table.zorder_by if c not in held.columns]
    if unknown:
        raise ConfigError(f"maintenance.tables ({table.zone}/{table.name}).zorder_by: column(s) "
                          f"{unknown} are not in the table: expected some of {held.columns}")
    rows_before = held.count()
    metrics = optimize_table(spark, path, zorder_by=table.zorder_by).first()
    optimized = metrics.metrics if metrics is not None else None
    retention = table.retention_hours if table.retention_hours is not None else (
        settings.retention_hours)
    deleted = vacuum_table(spark, path, retention,
                           allow_short_retention=settings.allow_short_retention)
    rows_after = spark.read.format("delta").load(path).count()
    if rows_after != rows_before:
        raise ConservationError(f"{table.zone}/{table.name}: {rows_before} rows before "
                                f"maintenance, {rows_after} after")
    figures = {
        "rows": rows_after,
        "files_removed": int(optimized.numFilesRemoved) if optimized else 0,
        "files_added": int(optimized.numFilesAdded) if optimized else 0,
        "files_vacuumed": deleted,
        "retention_hours": retention,
    }
    log.info("%s/%s: %s", table.zone, table.name, figures)
    return figures


def run(context: JobContext) -> JobResult:
    """Maintain every configured table."""
    summary = {f"{t.zone}/{t.name}": maintain_table(context, t)
               for t in context.settings.maintenance.tables}
    rows = sum(f.get("rows", 0) for f in summary.values())
    return JobResult(rows_read=rows, rows_written=rows, summary=summary)
