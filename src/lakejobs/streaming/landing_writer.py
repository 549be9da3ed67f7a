"""Idempotent micro-batch writes: a batch replayed after a crash writes nothing twice.

Delta tables use Delta's transaction identifiers: every write of a batch carries
(``txnAppId`` = query and table, ``txnVersion`` = batch id), and Delta skips a write whose
version it has already committed for that id. Parquet landing tables put each batch in its own
folder (``…/hour=HH/batch=N``) with a marker naming the query that wrote it: a replay first
removes what an interrupted attempt of the same query left there; a folder of another query (the
same batch number after a checkpoint reset) is never removed, the write stops with an error.

Delta landing tables are created collecting file statistics on the columns their readers filter
on (:func:`landing_properties`) rather than on their first 32 columns: statistics are a good part
of a write's cost, and payload columns are rarely searched by range.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession

from lakejobs.delta_io import append, is_delta_table, read_delta
from lakejobs.errors import LandingConflictError
from lakejobs.hadoop_files import delete_tree, glob, read_lines, write_text
from lakejobs.streaming.manifest import PARTITION_COLUMNS

log = logging.getLogger(__name__)

# the Kafka position and the times of a landed row: what incremental reads, the dedupe history
# and lookups of one record filter on
STATS_COLUMNS = ("_topic", "_partition", "_offset", "_event_time", "_ingested_at", "_batch_id")
# a batch lands in one partition (its ingestion hour): written without sorting its rows first
WRITE_CONF = {"spark.sql.maxConcurrentOutputFileWriters": "4"}
# in each Parquet batch folder: the id of the query that wrote it (readers skip "_" files)
WRITER_MARKER = "_lakejobs_writer"


def landing_properties(columns: list[str], keys: tuple[str, ...]) -> dict[str, str]:
    """The table properties a new Delta landing table gets: statistics on the row's key columns
    and :data:`STATS_COLUMNS` (those of them it has)."""
    wanted = [c for c in (*keys, *STATS_COLUMNS) if c in columns]
    names = ",".join(f"`{c}`" for c in dict.fromkeys(wanted))
    return {"delta.dataSkippingStatsColumns": names} if names else {}


def append_once(df: DataFrame, path: str, *, app_id: str, batch_id: int,
                partition_by: tuple[str, ...] = PARTITION_COLUMNS,
                properties: dict[str, str] | None = None) -> None:
    """Append ``df`` to the Delta table at ``path`` unless this batch was already written;
    ``properties`` are the table's properties if this write creates it (ignored afterwards).
    ``mergeSchema``: a new route version may add nullable columns."""
    append(df, path, merge_schema=True, txn=(app_id, batch_id), partition_by=partition_by,
           properties=properties)


def write_parquet_batch(df: DataFrame, path: str, *, batch_id: int, writer_id: str) -> None:
    """Write one batch of a Parquet landing table into its own folder, replacing whatever an
    earlier attempt of the same batch by the same query (``writer_id``) left (in any hour folder).

    Raises:
        LandingConflictError: a folder of that batch number holds another query's batch (its
            checkpoint was reset): removing it would lose landed records.
    """
    spark = df.sparkSession
    for folder in glob(spark, f"{path}/year=*/month=*/day=*/hour=*/batch={batch_id}"):
        marker = read_lines(spark, f"{folder}/{WRITER_MARKER}", 1)  # None: no marker
        owner = None if marker is None else "".join(marker)
        if owner is not None and owner != writer_id:
            raise LandingConflictError(
                f"{folder}: holds batch {batch_id} of query {owner!r}, not of {writer_id!r} (was "
                "the checkpoint reset?); Parquet landing keeps one query's batches per table: "
                "move that query's batch folders away or land in Delta, then restart")
        log.info("removing the partial output of an earlier attempt: %s", folder)
        delete_tree(spark, folder)
    first = df.select(*PARTITION_COLUMNS).limit(1).collect()
    if not first:
        return
    year, month, day, hour = first[0]
    target = f"{path}/year={year}/month={month}/day={day}/hour={hour}/batch={batch_id}"
    # every row of a batch has the same ingestion hour, so the batch is one folder; Spark's
    # committer writes _SUCCESS there last, which is the folder's completion marker. The owner
    # marker follows: a crash before it leaves a folder a replay of any query may replace, as
    # folders written before markers existed.
    df.drop(*PARTITION_COLUMNS).write.mode("overwrite").parquet(target)
    write_text(spark, f"{target}/{WRITER_MARKER}", writer_id)


def read_landing(spark: SparkSession, path: str, fmt: str) -> DataFrame | None:
    """A landing table, or None when it does not exist yet. In Parquet, the data files of the
    job's batch folders only: the table may also hold other drops (JSON lines in ``dt=…``
    folders, whose partition layout Spark refuses to mix with ours), and an interrupted first
    write leaves a folder without data files (only the committer's ``_temporary``)."""
    if fmt == "delta":
        return read_delta(spark, path) if is_delta_table(spark, path) else None
    files = f"{path}/year=*/month=*/day=*/hour=*/batch=*/*.parquet"
    if not glob(spark, files):
        return None
    return spark.read.option("basePath", path).parquet(files)
