"""The review queue (``potential_duplicates``) and reviewers' decisions (``merge_decisions``).

Reviewers append decisions to ``merge_decisions`` (``pair_id``, ``decision`` approve/dismiss,
``reviewer``, ``decided_at``); the job never changes that table, so every decision stays for
audit. Each run applies the latest decision per pair that is newer than the one the queue row
already carries and was made since the row was (re)queued, then rebuilds the queue from the
pairs scored for review:

| queue row before | pair scored for review now | after |
|---|---|---|
| none | yes | ``open``, queued now |
| ``open`` | yes | ``open`` with the new score and comparison |
| ``open`` | no (merged, unlinked or a record gone) | ``withdrawn`` |
| ``dismissed`` | yes, both records unchanged | ``dismissed``: not queued again |
| ``dismissed`` | yes, a record changed | ``open`` again, queued now |
| ``withdrawn`` | yes | ``open`` again, queued now |
| ``approved`` | either | ``approved``: merged while both records exist |

"Unchanged" compares the records' ``record_hash`` (normalised values) with the hashes the queue
row held when the reviewer decided. A dismissed, unchanged pair is not merged automatically
either: the reviewer said these are two people.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

OPEN, APPROVED, DISMISSED, WITHDRAWN = "open", "approved", "dismissed", "withdrawn"
DECISIONS = {"approve": APPROVED, "dismiss": DISMISSED}

QUEUE_SCHEMA = T.StructType([
    T.StructField("pair_id", T.StringType(), False),
    T.StructField("left_key", T.StringType(), False),
    T.StructField("right_key", T.StringType(), False),
    T.StructField("left_hash", T.StringType(), False),
    T.StructField("right_hash", T.StringType(), False),
    T.StructField("score", T.DoubleType(), False),
    T.StructField("reason", T.StringType(), False),
    T.StructField("blocked_by", T.ArrayType(T.StringType()), True),
    T.StructField("comparison", T.ArrayType(T.StructType([
        T.StructField("attribute", T.StringType()),
        T.StructField("level", T.StringType()),
        T.StructField("weight", T.DoubleType()),
        T.StructField("left_value", T.StringType()),
        T.StructField("right_value", T.StringType()),
    ])), True),
    T.StructField("left_record", T.StringType(), True),
    T.StructField("right_record", T.StringType(), True),
    T.StructField("status", T.StringType(), False),
    T.StructField("queued_at", T.TimestampType(), False),
    T.StructField("decided_by", T.StringType(), True),
    T.StructField("decided_at", T.TimestampType(), True),
])
DECISION_SCHEMA = T.StructType([
    T.StructField("pair_id", T.StringType(), False),
    T.StructField("decision", T.StringType(), False),
    T.StructField("reviewer", T.StringType(), False),
    T.StructField("decided_at", T.TimestampType(), False),
])
REFRESHED = ("left_hash", "right_hash", "score", "reason", "blocked_by", "comparison",
             "left_record", "right_record")


def pair_id(left: Column, right: Column) -> Column:
    """A pair's id: 32 hex characters of sha256(left key | right key)."""
    return F.substring(F.sha2(F.concat_ws("|", left, right), 256), 1, 32)


def latest_decisions(decisions: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(the latest valid decision per pair; the invalid ones, with ``problem``).

    A decision is invalid when its ``decision`` is not approve/dismiss, or it has no reviewer or
    time: it stays in ``merge_decisions`` and is reported, never applied."""
    kind = F.lower(F.trim("decision"))
    valid = (kind.isin(*DECISIONS) & F.col("reviewer").isNotNull()
             & (F.trim("reviewer") != "") & F.col("decided_at").isNotNull()
             & F.col("pair_id").isNotNull())
    problem = (F.when(~kind.isin(*DECISIONS) | kind.isNull(), F.lit("unknown_decision"))
               .when(F.col("pair_id").isNull(), F.lit("missing_pair_id"))
               .otherwise(F.lit("missing_reviewer_or_time")))
    flagged = decisions.withColumn("_valid", F.coalesce(valid, F.lit(False)))
    latest = Window.partitionBy("pair_id").orderBy(F.desc("decided_at"), F.desc("reviewer"))
    good = (flagged.where("_valid").withColumn("_r", F.row_number().over(latest))
            .where("_r = 1")
            .select("pair_id", F.element_at(F.create_map(*[
                x for k, v in DECISIONS.items() for x in (F.lit(k), F.lit(v))]), kind)
                .alias("status"), F.col("reviewer").alias("decided_by"), "decided_at"))
    return good, flagged.where(~F.col("_valid")).withColumn("problem", problem).drop("_valid")


def apply_decisions(queue: DataFrame, decisions: DataFrame) -> DataFrame:
    """The queue with each newer decision (from :func:`latest_decisions`) applied: newer than
    the decision the row holds and made since the row was queued. A decision for a pair not in
    the queue is ignored (see :func:`unknown_pairs`)."""
    d = decisions.select("pair_id", F.col("status").alias("_status"),
                         F.col("decided_by").alias("_by"), F.col("decided_at").alias("_at"))
    # A decision answers the queue row the reviewer saw: one made before the row was (re)queued
    # was about the records as they were then, and a reopened row has its decision cleared, so
    # without this the old decision would be applied to it again on the next run.
    newer = (F.col("_at").isNotNull() & (F.col("_at") >= F.col("queued_at")) & (
        F.col("decided_at").isNull() | (F.col("_at") > F.col("decided_at"))))
    decided = {"status": "_status", "decided_by": "_by", "decided_at": "_at"}
    return queue.join(d, on="pair_id", how="left").select(*[
        F.when(newer, F.col(decided[c])).otherwise(F.col(c)).alias(c) if c in decided
        else F.col(c)
        for c in QUEUE_SCHEMA.fieldNames()
    ])


def unknown_pairs(queue: DataFrame, decisions: DataFrame) -> DataFrame:
    """Decisions whose pair was never queued."""
    return decisions.join(queue.select("pair_id"), on="pair_id", how="left_anti")


def next_queue(queue: DataFrame, review: DataFrame, now: datetime) -> DataFrame:
    """The queue after this run (see the module docstring's table).

    Args:
        queue: the queue with decisions applied (:data:`QUEUE_SCHEMA`).
        review: pairs scored for review now, with the :data:`REFRESHED` columns and the keys.
    """
    ts = F.lit(now).cast("timestamp")
    q = queue.alias("q")
    r = review.select("pair_id", "left_key", "right_key", *REFRESHED).alias("r")
    joined = q.join(r, on="pair_id", how="full_outer")
    status, in_review = F.col("q.status"), F.col("r.left_key").isNotNull()
    unchanged = ((F.col("q.left_hash") == F.col("r.left_hash"))
                 & (F.col("q.right_hash") == F.col("r.right_hash")))
    new_status = (
        F.when(status.isNull(), F.lit(OPEN))
        .when(status == APPROVED, F.lit(APPROVED))
        .when(~in_review, F.when(status == OPEN, F.lit(WITHDRAWN)).otherwise(status))
        .when((status == DISMISSED) & unchanged, F.lit(DISMISSED))
        .otherwise(F.lit(OPEN))
    )
    reopened = status.isNull() | ((status.isin(DISMISSED, WITHDRAWN)) & (new_status == OPEN))
    refresh = in_review & (new_status == OPEN)
    cols = []
    for c in QUEUE_SCHEMA.fieldNames():
        if c == "pair_id":
            cols.append(F.col("pair_id"))
        elif c == "status":
            cols.append(new_status.alias(c))
        elif c == "queued_at":
            cols.append(F.when(reopened, ts).otherwise(F.col("q.queued_at")).alias(c))
        elif c in ("decided_by", "decided_at"):
            empty = F.lit(None).cast(QUEUE_SCHEMA[c].dataType)
            cols.append(F.when(reopened, empty).otherwise(F.col(f"q.{c}")).alias(c))
        elif c in ("left_key", "right_key", *REFRESHED):
            cols.append(F.when(refresh, F.col(f"r.{c}")).otherwise(F.col(f"q.{c}")).alias(c))
    return joined.select(*cols)


def dismissed_pairs(queue: DataFrame) -> DataFrame:
    """``pair_id``, ``left_hash``, ``right_hash`` of the dismissed pairs."""
    return queue.where(F.col("status") == DISMISSED).select("pair_id", "left_hash", "right_hash")


def approved_pairs(queue: DataFrame) -> DataFrame:
    return queue.where(F.col("status") == APPROVED).select("left_key", "right_key")
