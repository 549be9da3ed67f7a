"""Canonical profiles by survivorship, one rule per attribute, and the lineage of every value.

For each canonical user and attribute, the members' present values compete by the attribute's
rule (``dedupe.survivorship``, default ``dedupe.survivorship_default``):

* ``most_recent`` — the record updated last (then the more trusted source);
* ``most_trusted`` — the record from the source system listed first in ``dedupe.source_trust``
  (systems not listed come after every listed one; then the most recent);
* ``most_complete`` — the record with the most attributes present, then the longest value (a
  full middle name beats an initial), then the most recent.

Remaining ties go to the smaller ``identity_key``, so the choice is deterministic. Each chosen
value gives one ``attribute_lineage`` row: the source record, its system, its ``updated_at`` and
the rule that chose it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakejobs.config import DedupeSettings

# canonical attribute → source identity column holding the value shown
PROFILE_ATTRIBUTES = {
    "first_name": "first_name_display",
    "last_name": "last_name_display",
    "birth_date": "birth_date",
    "email": "email",
    "phone": "phone",
    "address": "address_display",
    "postcode": "postcode",
    "city": "city",
    "government_id": "government_id",
}
COMPLETENESS = tuple(c for a, c in PROFILE_ATTRIBUTES.items() if a != "city")


def _trust_rank(trust: tuple[str, ...]) -> Column:
    rank = F.lit(len(trust))
    for i, system in reversed(list(enumerate(trust))):
        rank = F.when(F.col("source_system") == system, F.lit(i)).otherwise(rank)
    return rank


def attribute_candidates(members: DataFrame, settings: DedupeSettings) -> DataFrame:
    """One row per member and present attribute: ``canonical_id``, ``attribute``, ``value``
    (string), ``rule`` and the source record's fields."""
    filled = sum(F.col(c).isNotNull().cast("int") for c in COMPLETENESS)
    values = F.array(*[
        F.struct(F.lit(attr).alias("attribute"), F.col(col).cast("string").alias("value"),
                 F.lit(settings.rule_for(attr)).alias("rule"))
        for attr, col in PROFILE_ATTRIBUTES.items()
    ])
    return (
        members.select("canonical_id", "identity_key", "source_system", "source_record_id",
                       "updated_at", filled.alias("_filled"),
                       _trust_rank(settings.source_trust).alias("_trust"),
                       F.explode(values).alias("_v"))
        .select("*", "_v.*").drop("_v")
        .where(F.col("value").isNotNull())
    )


def choose(candidates: DataFrame, run_id: str) -> DataFrame:
    """The surviving value per (canonical_id, attribute), as ``attribute_lineage`` rows."""
    recency = -F.coalesce(F.unix_timestamp("updated_at"), F.lit(0))
    complete = -(F.col("_filled") * 100_000 + F.length("value"))
    rule = F.col("rule")
    first = (F.when(rule == "most_recent", recency).when(rule == "most_trusted", F.col("_trust"))
             .otherwise(complete))
    second = F.when(rule == "most_recent", F.col("_trust")).otherwise(recency)
    third = F.when(rule == "most_complete", F.col("_trust")).otherwise(F.lit(0))
    order = Window.partitionBy("canonical_id", "attribute").orderBy(
        first, second, third, "identity_key")
    return (
        candidates.withColumn("_rank", F.row_number().over(order)).where("_rank = 1")
        .select("canonical_id", "attribute", "value", "rule",
                F.col("identity_key").alias("source_identity_key"), "source_system",
                "source_record_id", F.col("updated_at").alias("source_updated_at"),
                F.lit(run_id).alias("run_id"))
    )


def profiles(lineage: DataFrame) -> DataFrame:
    """``canonical_profiles`` values (without version): one column per attribute, from the
    lineage rows, and ``profile_hash`` over them (what a new version is judged by)."""
    wide = lineage.groupBy("canonical_id").pivot("attribute", list(PROFILE_ATTRIBUTES)).agg(
        F.first("value"))
    for attr in PROFILE_ATTRIBUTES:
        if attr not in wide.columns:
            wide = wide.withColumn(attr, F.lit(None).cast("string"))
    wide = wide.withColumn("birth_date", F.col("birth_date").cast("date"))
    cols = list(PROFILE_ATTRIBUTES)
    return wide.select(
        "canonical_id", *cols,
        F.sha2(F.to_json(F.struct(*cols)), 256).alias("profile_hash"),
    )
