"""Delta row tracking: every row of a table carries the version of the commit that wrote it.

Incremental readers of staging take "the rows written since my last run". A timestamp the writer
stamps on its rows (``_validated_at``) cannot say that: a writer stamps its rows when its query
starts and commits them later, so with two writers of one table (the landing → staging job and
the quarantine replay) a reader that runs between their commits takes the later stamp as its
watermark and never reads the rows committed after it with an earlier stamp. Delta assigns a
row's commit version when the commit lands, in commit order, and keeps it when OPTIMIZE moves the
row (a MERGE or UPDATE that changes the row gives it the new version). Row tracking is a writer
table feature: readers (Athena, Glue crawlers, older Spark) read the table as before.
"""

from __future__ import annotations

import logging

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.delta_io import is_delta_table, retry_on_conflict

log = logging.getLogger(__name__)

ROW_TRACKING = "delta.enableRowTracking"
# the writer option that creates a table with row tracking (a Delta table property)
ROW_TRACKING_OPTIONS = {ROW_TRACKING: "true"}
COMMIT_VERSION = "_commit_version"  # a reader's name for the row's commit version
# the time staging writers stamp on their rows (lineage; incremental readers of a table that
# tracks its rows follow commit versions instead)
VALIDATED_AT = "_validated_at"
_METADATA_FIELD = "row_commit_version"


def enable_row_tracking(spark: SparkSession, path: str, *, attempts: int = 5) -> bool:
    """Turn row tracking on for the existing Delta table at ``path`` (a table written before
    lakejobs tracked rows). Delta gives every row it holds the version of this change (their
    readers take them in once more, which their idempotent merges make harmless). Returns
    whether the table was changed; a missing table or one that tracks rows already is left.

    Two writers of one table (landing → staging and the quarantine replay) may find it without
    row tracking together: Delta commits one's change (a protocol upgrade, then the property)
    and refuses the other's as a conflict; the loser reads the table again and is done when
    row tracking is on, else tries again (``attempts`` in all).

    Raises:
        DeltaConflictError: still conflicting after ``attempts`` tries.
    """
    if not is_delta_table(spark, path):
        return False
    quoted = path.replace("`", "``")

    def turn_on() -> bool:
        # read again on every try: the writer that won the conflict may have turned it on
        if _properties(spark, path).get(ROW_TRACKING) == "true":
            return False
        log.info("%s: turning on Delta row tracking (incremental readers follow commit "
                 "versions)", path)
        spark.sql(f"ALTER TABLE delta.`{quoted}` SET TBLPROPERTIES ('{ROW_TRACKING}' = 'true')")
        return True

    return retry_on_conflict(turn_on, what=f"{path}: turning on row tracking",
                             attempts=attempts)[1]


def _properties(spark: SparkSession, path: str) -> dict[str, str]:
    return DeltaTable.forPath(spark, path).detail().first()["properties"] or {}


def tracks_rows(df: DataFrame) -> bool:
    """Whether ``df``, a read of a Delta table, carries its rows' commit versions."""
    try:
        metadata = df.select("_metadata").schema[0].dataType
    except AnalysisException:  # not a file source read (no hidden metadata column)
        return False
    return isinstance(metadata, T.StructType) and _METADATA_FIELD in metadata.fieldNames()


def with_commit_version(df: DataFrame) -> DataFrame:
    """``df`` (a read of a table that tracks rows) with each row's commit version as
    :data:`COMMIT_VERSION`."""
    return df.withColumn(COMMIT_VERSION, F.col(f"_metadata.{_METADATA_FIELD}"))
