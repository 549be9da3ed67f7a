"""Candidate pairs by blocking rules: equi-joins on blocking keys, never an all-pairs cross join.

Each rule pairs the records whose values of its keys are all present and equal. A key value
shared by more than ``max_block_size`` records (a placeholder email, a shop's phone number) is
skipped and reported: it would add n(n-1)/2 pairs that say nothing about identity. The rules'
pairs are unioned and de-duplicated; ``blocked_by`` lists the rules that found each pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from lakejobs.config import BlockingRule


@dataclass(frozen=True)
class BlockingReport:
    """Candidate pairs per rule (before the union), skipped oversize blocks, and the total."""

    pairs_by_rule: dict[str, int]
    skipped_blocks: dict[str, int]
    candidate_pairs: int


def block_key(rule: BlockingRule) -> F.Column:
    """The rule's key of a record: its values joined, null unless every one is present."""
    parts = [F.col(c).cast("string") for c in rule.keys]
    present = parts[0].isNotNull()
    for part in parts[1:]:
        present = present & part.isNotNull()
    return F.when(present, F.concat_ws("\u001f", *parts))


def rule_pairs(identities: DataFrame, rule: BlockingRule, max_block_size: int) -> DataFrame:
    """``left_key``, ``right_key`` (left < right), ``rule``: the pairs of the rule's blocks of
    at most ``max_block_size`` records."""
    keyed = identities.select("identity_key", block_key(rule).alias("_block")).where(
        F.col("_block").isNotNull())
    # each block's size by a window, not by joining the keys to their own aggregate (a join of
    # one lineage, see below)
    size = F.count(F.lit(1)).over(Window.partitionBy("_block"))
    usable = keyed.withColumn("_n", size).where(F.col("_n") <= max_block_size)
    # the two sides' block columns named apart: a join of one lineage on a column of the same
    # name is what Spark 3.5 fails to resolve when the identities are a checkpoint
    left = usable.select(F.col("_block").alias("_left_block"),
                         F.col("identity_key").alias("left_key"))
    right = usable.select(F.col("_block").alias("_right_block"),
                          F.col("identity_key").alias("right_key"))
    return (
        left.join(right, F.col("_left_block") == F.col("_right_block"), how="inner")
        .where(F.col("left_key") < F.col("right_key"))
        .select("left_key", "right_key", F.lit(rule.name).alias("rule"))
    )


def skipped_blocks(identities: DataFrame, rules: Sequence[BlockingRule],
                   max_block_size: int) -> dict[str, int]:
    """Per rule, how many key values are shared by more than ``max_block_size`` records (one
    aggregation for every rule)."""
    keys = None
    for rule in rules:
        keyed = identities.select(F.lit(rule.name).alias("rule"), block_key(rule).alias("_block"))
        keys = keyed if keys is None else keys.unionByName(keyed)
    oversize = (keys.where(F.col("_block").isNotNull()).groupBy("rule", "_block").count()
                .where(F.col("count") > max_block_size).groupBy("rule").count().collect())
    found = {r.rule: r["count"] for r in oversize}
    return {r.name: found.get(r.name, 0) for r in rules}


def candidate_pairs(
    identities: DataFrame, rules: Sequence[BlockingRule], max_block_size: int
) -> DataFrame:
    """``left_key``, ``right_key``, ``blocked_by`` (sorted rule names): every pair some rule
    finds, once."""
    pairs = None
    for rule in rules:
        found = rule_pairs(identities, rule, max_block_size)
        pairs = found if pairs is None else pairs.unionByName(found)
    return pairs.groupBy("left_key", "right_key").agg(
        F.array_sort(F.collect_set("rule")).alias("blocked_by"))


def blocking_report(
    pairs: DataFrame, identities: DataFrame, rules: Sequence[BlockingRule], max_block_size: int
) -> BlockingReport:
    """Counts for the run log, from the de-duplicated ``pairs`` (one pass over them)."""
    exploded = pairs.select(F.explode("blocked_by").alias("rule")).groupBy("rule").count()
    by_rule = {r.rule: r["count"] for r in exploded.collect()}
    return BlockingReport(
        pairs_by_rule={r.name: by_rule.get(r.name, 0) for r in rules},
        skipped_blocks=skipped_blocks(identities, rules, max_block_size),
        candidate_pairs=pairs.count(),
    )
