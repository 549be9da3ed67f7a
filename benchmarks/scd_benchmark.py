"""SCD2 benchmark: ``lakejobs.scd.apply_changes`` against the textbook Delta merge and a rewrite.

One process, the same data for every method. A dimension of ``--rows`` customers (one version per
key, ~100 files sorted by key) receives a change batch of 1% updated keys (each changes ``segment``
or ``city``) plus 0.1% new keys, in two shapes:

* ``clustered``: the updated keys are one contiguous key range in the middle of the key space;
* ``scattered``: the updated keys are spread uniformly over the key space (one per block of
  rows/updated keys, at a hashed offset), so every file holds some of them.

New keys are contiguous above the largest existing key in both shapes (the base keys are dense).
Then the same batch (same number of updated and new keys, placed the same way in the larger key
space) goes to a dimension ``--scale`` times larger (~400 files at 4x).

Methods, each run on its own fresh copy of the base table (the copy is not timed):

* ``lakejobs``  (A) ``lakejobs.scd.apply_changes`` on the dimension in lakejobs' layout;
* ``textbook``  (B) the SCD2 merge of the Delta Lake documentation ("staged updates");
* ``overwrite`` (C) recompute the whole dimension with DataFrame operations and overwrite it;
* ``floor_merge``, ``floor_replace`` (D) not SCD2 at all: the cheapest single Delta transactions
  that touch the batch's rows, to show what one commit of this size costs on the machine. Both do
  strictly less than any SCD2 merge, on the textbook table, restricted to the batch's key ranges
  (given as literals, found outside the timing): ``floor_merge`` is one MERGE with one action per
  change (close the current row of an updated key, insert a new key: the new versions of updated
  keys are not inserted); ``floor_replace`` replaces the rows of those key ranges with the 55,000
  change rows (``replaceWhere``: history is thrown away). No SCD2 implementation that commits
  atomically, with Delta's conflict detection, can be cheaper than both.
* ``scd2_in_ranges`` (E) the textbook SCD2 merge (B) handed the batch's key ranges for free (as
  literals, in its join with the dimension and in its MERGE condition): what a correct SCD2 MERGE
  of an in-order batch costs with perfect file skipping and no history handling at all. If the
  textbook is less than twice as slow as this, no SCD2 implementation that commits with one MERGE
  can reach the 2x goal on this machine at this size.

Each method gets one warm-up run, then ``--runs`` timed runs, interleaved across methods so that
load from other processes on the machine falls on all of them alike; the median is reported.
Afterwards the final tables of A and B (and C and B) are compared on the business columns.

The change batch keeps every ``email`` (the SCD1 column) unchanged: the textbook merge has no
SCD1 handling, and the comparison must hold the anchor to what it was written for.

Usage:
    python benchmarks/scd_benchmark.py [--rows 5000000] [--scale 4] [--shapes clustered,scattered]
        [--scale-shapes clustered] [--runs 3] [--out benchmarks/results/scd.json]
        [--workdir /tmp/scd-bench] [--methods lakejobs,textbook,overwrite]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

KEY = "customer_id"
TRACKED = ("segment", "city")
OVERWRITTEN = ("email",)
# What A and B must agree on; the lakejobs bookkeeping columns (sk, _seq_from, ...) are its own.
COMPARED = (KEY, *TRACKED, *OVERWRITTEN, "effective_from", "effective_to", "is_current")
END_OF_TIME = "9999-12-31 23:59:59"  # lakejobs' open end; the textbook table uses NULL

SEGMENTS, CITIES = 8, 50
BASE_EPOCH = 1_704_067_200  # 2024-01-01 00:00:00 UTC: base versions start within the year after
BASE_SPAN_S = 365 * 86_400
BATCH_EPOCH = 1_748_736_000  # 2025-06-01 00:00:00 UTC: every change is later than every version

ROWS_PER_FILE = 50_000  # 5M rows -> 100 files, 20M rows -> 400 files
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scd.json"
ANCHOR = "textbook Delta SCD2 merge (staged updates)"
METHODS = ("lakejobs", "textbook", "overwrite", "floor_merge", "floor_replace", "scd2_in_ranges")
FLOORS = ("floor_merge", "floor_replace")
SCD2_FLOOR = "scd2_in_ranges"
SHAPES = ("clustered", "scattered")


# ------------------------------------------------------------------------------------ data
def segment_of(index: Column) -> Column:
    return F.format_string("segment_%d", index)


def city_of(index: Column) -> Column:
    return F.format_string("city_%02d", index)


def segment_index(key: Column) -> Column:
    return F.pmod(F.hash(key, F.lit(1)), F.lit(SEGMENTS))


def city_index(key: Column) -> Column:
    return F.pmod(F.hash(key, F.lit(2)), F.lit(CITIES))


def email_of(key: Column) -> Column:
    return F.format_string("customer%d@example.com", key)


def initial_changes(spark: SparkSession, rows: int) -> DataFrame:
    """One insert per key 1..rows, attributes a fixed function of the key."""
    key = F.col("id") + 1
    first_seen = F.lit(BASE_EPOCH) + F.pmod(F.hash(key, F.lit(3)), F.lit(BASE_SPAN_S))
    return spark.range(rows).select(
        key.alias(KEY),
        segment_of(segment_index(key)).alias("segment"),
        city_of(city_index(key)).alias("city"),
        email_of(key).alias("email"),
        F.timestamp_seconds(first_seen).alias("updated_at"),
    )


def change_batch(spark: SparkSession, rows: int, shape: str, updated: int, new: int) -> DataFrame:
    """``updated`` existing keys of a dimension of keys 1..rows (``shape`` decides which) and
    ``new`` new keys above the largest one, one change each."""
    i = F.col("id")
    if shape == "clustered":
        first = (rows - updated) // 2  # mid-table, so the range touches no edge file
        key = i + first + 1
    else:
        block = rows // updated  # one key per block, at a hashed offset inside it
        key = i * block + 1 + F.pmod(F.hash(i, F.lit(4)), F.lit(block))
    # Even keys move to the next segment, odd keys to the next city: every update is tracked.
    moves_segment = F.pmod(key, F.lit(2)) == 0
    new_segment = F.when(moves_segment, F.pmod(segment_index(key) + 1, F.lit(SEGMENTS)))
    new_city = F.when(~moves_segment, F.pmod(city_index(key) + 1, F.lit(CITIES)))
    changed_at = F.timestamp_seconds(F.lit(BATCH_EPOCH) + F.pmod(i, F.lit(3600)))
    updates = spark.range(updated).select(
        key.alias(KEY),
        segment_of(F.coalesce(new_segment, segment_index(key))).alias("segment"),
        city_of(F.coalesce(new_city, city_index(key))).alias("city"),
        email_of(key).alias("email"),
        changed_at.alias("updated_at"),
    )
    new_key = i + rows + 1
    inserts = spark.range(new).select(
        new_key.alias(KEY),
        segment_of(segment_index(new_key)).alias("segment"),
        city_of(city_index(new_key)).alias("city"),
        email_of(new_key).alias("email"),
        changed_at.alias("updated_at"),
    )
    return updates.unionByName(inserts)


def batch_ranges(rows: int, shape: str, updated: int, new: int) -> list[tuple[int, int]]:
    """The key ranges ``change_batch`` draws from (scattered keys: the whole key space)."""
    first = (rows - updated) // 2 + 1 if shape == "clustered" else 1
    last = first + updated - 1 if shape == "clustered" else rows
    return [(first, last), (rows + 1, rows + new)]


def append_sorted(df: DataFrame, path: Path, files: int) -> None:
    """Append ``df`` to the Delta table at ``path`` as ``files`` files, range-partitioned and
    sorted by key (created with ``df``'s schema if missing)."""
    (
        df.repartitionByRange(files, KEY)
        .sortWithinPartitions(KEY)
        .write.format("delta")
        .mode("append")
        .save(str(path))
    )


def scd_module() -> Any:
    """``lakejobs.scd``, imported on first use: it is written alongside this benchmark."""
    return importlib.import_module("lakejobs.scd")


def lakejobs_spec() -> Any:
    return scd_module().ScdSpec(
        keys=(KEY,), sequence_by="updated_at", scd2_columns=TRACKED, scd1_columns=OVERWRITTEN
    )


def build_lakejobs_base(spark: SparkSession, rows: int, files: int, path: Path) -> None:
    """The base dimension as lakejobs writes it, built by lakejobs itself (not by hand).

    The table is created by ``ensure_dimension`` (lakejobs' schema and recommended properties:
    deletion vectors on), then the first load is appended in the sorted layout.
    """
    scd = scd_module()
    spec = lakejobs_spec()
    changes = initial_changes(spark, rows)
    if hasattr(scd, "initial_dimension"):
        dimension = scd.initial_dimension(changes, spec)
    else:
        first_load = path.with_name(path.name + "-first-load")
        scd.apply_changes(spark, changes, spec, str(first_load))
        dimension = spark.read.format("delta").load(str(first_load))
    schema = importlib.import_module("lakejobs.scd.history").dimension_schema(changes.schema, spec)
    scd.ensure_dimension(spark, str(path), schema, deletion_vectors=True)
    append_sorted(dimension, path, files)


def build_textbook_base(spark: SparkSession, rows: int, files: int, path: Path) -> None:
    """The base dimension of the Delta docs' SCD2 example: open versions end in NULL."""
    dimension = initial_changes(spark, rows).select(
        KEY, *TRACKED, *OVERWRITTEN,
        F.col("updated_at").alias("effective_from"),
        F.lit(None).cast("timestamp").alias("effective_to"),
        F.lit(True).alias("is_current"),
    )
    append_sorted(dimension, path, files)


# --------------------------------------------------------------------------------- methods
def run_lakejobs(spark: SparkSession, changes_path: Path, table: Path, files: int) -> None:
    changes = spark.read.format("delta").load(str(changes_path))
    scd_module().apply_changes(spark, changes, lakejobs_spec(), str(table))


def run_textbook(spark: SparkSession, changes_path: Path, table: Path, files: int) -> None:
    """The SCD2 merge from the Delta Lake documentation ("staged updates").

    An update of an existing key must both close the current version (a matched update) and
    insert the new one (a not-matched insert), but a merge applies one action per source row.
    So the source carries every change twice when its tracked values differ: once under its key
    (to close the current row) and once under a NULL merge key, which matches nothing and is
    therefore inserted. New keys match nothing under their own key and are inserted once.
    """
    textbook_merge(spark, changes_path, table, ranges=None)


def run_scd2_in_ranges(spark: SparkSession, changes_path: Path, table: Path, files: int) -> None:
    """The textbook merge with the batch's key ranges (found outside the timing) as literals."""
    textbook_merge(spark, changes_path, table, ranges=touched_ranges(changes_path))


def textbook_merge(
    spark: SparkSession, changes_path: Path, table: Path, ranges: list[tuple[int, int]] | None
) -> None:
    customers = DeltaTable.forPath(spark, str(table))
    updates = spark.read.format("delta").load(str(changes_path))
    dimension = customers.toDF()
    scope = "true"
    if ranges is not None:
        dimension = dimension.where(in_ranges(KEY, ranges))
        scope = in_ranges(f"customers.{KEY}", ranges)
    differs = " OR ".join(f"customers.{c} <> updates.{c}" for c in TRACKED)
    new_versions_of_existing_keys = (
        updates.alias("updates")
        .join(dimension.alias("customers"), on=KEY, how="inner")
        .where(f"customers.is_current = true AND ({differs})")
        .select(F.lit(None).cast("bigint").alias("merge_key"), "updates.*")
    )
    staged_updates = new_versions_of_existing_keys.unionByName(
        updates.select(F.col(KEY).alias("merge_key"), "*")
    )
    closes_current = "customers.is_current = true AND ({})".format(
        " OR ".join(f"customers.{c} <> staged_updates.{c}" for c in TRACKED)
    )
    (
        customers.alias("customers")
        .merge(staged_updates.alias("staged_updates"),
               f"customers.{KEY} = staged_updates.merge_key AND {scope}")
        .whenMatchedUpdate(
            condition=closes_current,
            set={"is_current": "false", "effective_to": "staged_updates.updated_at"},
        )
        .whenNotMatchedInsert(
            values={
                **{c: f"staged_updates.{c}" for c in (KEY, *TRACKED, *OVERWRITTEN)},
                "effective_from": "staged_updates.updated_at",
                "effective_to": "null",
                "is_current": "true",
            }
        )
        .execute()
    )


def run_overwrite(spark: SparkSession, changes_path: Path, table: Path, files: int) -> None:
    """Recompute the whole textbook dimension with DataFrame operations and overwrite it.

    Delta reads a pinned snapshot, so the table can be overwritten by a query that reads it.
    """
    dimension = spark.read.format("delta").load(str(table))
    changes = spark.read.format("delta").load(str(changes_path))
    current = dimension.where(F.col("is_current"))
    differs = F.lit(False)
    for c in TRACKED:
        differs = differs | (F.col(f"d.{c}") != F.col(f"c.{c}"))
    closings = (
        current.alias("d")
        .join(changes.alias("c"), on=KEY, how="inner")
        .where(differs)
        .select(KEY, F.col("c.updated_at").alias("_closed_at"))
    )
    # ``closings`` has one row per key, so joining every version of the key cannot fan out.
    closes = F.col("is_current") & F.col("_closed_at").isNotNull()
    kept_or_closed = dimension.join(closings, on=KEY, how="left").select(
        KEY, *TRACKED, *OVERWRITTEN, "effective_from",
        F.when(closes, F.col("_closed_at")).otherwise(F.col("effective_to")).alias("effective_to"),
        F.when(closes, F.lit(False)).otherwise(F.col("is_current")).alias("is_current"),
    )
    is_new_key = F.col("d.is_current").isNull()
    new_versions = (
        changes.alias("c")
        .join(current.alias("d"), on=KEY, how="left")
        .where(is_new_key | differs)
        .select(
            KEY, *[F.col(f"c.{c}").alias(c) for c in (*TRACKED, *OVERWRITTEN)],
            F.col("c.updated_at").alias("effective_from"),
            F.lit(None).cast("timestamp").alias("effective_to"),
            F.lit(True).alias("is_current"),
        )
    )
    # Keep the base layout (sorted files by key): a rewrite that scattered the keys would make the
    # next batch's reads slower, which a production job would not accept.
    (
        kept_or_closed.unionByName(new_versions)
        .repartitionByRange(files, KEY)
        .sortWithinPartitions(KEY)
        .write.format("delta")
        .mode("overwrite")
        .save(str(table))
    )


def touched_ranges(changes_path: Path) -> list[tuple[int, int]]:
    """The key ranges of a change batch, written by ``run_case`` next to it (outside the timing:
    the floors get their file skipping for free)."""
    return [tuple(r) for r in json.loads((changes_path.parent / "ranges.json").read_text())]


def in_ranges(column: str, ranges: list[tuple[int, int]]) -> str:
    return "(" + " OR ".join(f"{column} BETWEEN {lo} AND {hi}" for lo, hi in ranges) + ")"


def run_floor_merge(spark: SparkSession, changes_path: Path, table: Path, files: int) -> None:
    """One MERGE, one action per change: close the current row of an updated key, insert a new
    key (no new version for an updated key: less than an SCD2 has to write)."""
    customers = DeltaTable.forPath(spark, str(table))
    updates = spark.read.format("delta").load(str(changes_path))
    scope = in_ranges(f"customers.{KEY}", touched_ranges(changes_path))
    (
        customers.alias("customers")
        .merge(updates.alias("updates"),
               f"customers.{KEY} = updates.{KEY} AND customers.is_current AND {scope}")
        .whenMatchedUpdate(set={"is_current": "false", "effective_to": "updates.updated_at"})
        .whenNotMatchedInsert(values={
            **{c: f"updates.{c}" for c in (KEY, *TRACKED, *OVERWRITTEN)},
            "effective_from": "updates.updated_at", "effective_to": "null",
            "is_current": "true"})
        .execute()
    )


def run_floor_replace(spark: SparkSession, changes_path: Path, table: Path, files: int) -> None:
    """One overwrite of the batch's key ranges with the change rows (``replaceWhere``): the old
    versions of those keys are dropped, not closed."""
    updates = spark.read.format("delta").load(str(changes_path))
    (
        updates.select(KEY, *TRACKED, *OVERWRITTEN,
                       F.col("updated_at").alias("effective_from"),
                       F.lit(None).cast("timestamp").alias("effective_to"),
                       F.lit(True).alias("is_current"))
        .write.format("delta").mode("overwrite")
        .option("replaceWhere", in_ranges(KEY, touched_ranges(changes_path)))
        .save(str(table))
    )


RUNNERS: dict[str, Callable[[SparkSession, Path, Path, int], None]] = {
    "lakejobs": run_lakejobs,
    "textbook": run_textbook,
    "overwrite": run_overwrite,
    "floor_merge": run_floor_merge,
    "floor_replace": run_floor_replace,
    "scd2_in_ranges": run_scd2_in_ranges,
}


# --------------------------------------------------------------------------------- harness
@dataclass(frozen=True)
class Size:
    label: str
    rows: int
    files: int
    shapes: tuple[str, ...]
    updated_keys: int
    new_keys: int


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def comparable(table: DataFrame) -> DataFrame:
    """The compared columns, with the textbook's NULL open end read as lakejobs' end of time."""
    return table.select(
        *COMPARED[:-2],
        F.coalesce(F.col("effective_to"), F.lit(END_OF_TIME).cast("timestamp"))
        .alias("effective_to"),
        F.col("is_current"),
    )


def compare(spark: SparkSession, left: Path, right: Path) -> dict[str, Any]:
    """Whether two final dimensions hold the same rows (multiset) on the compared columns."""
    a = comparable(spark.read.format("delta").load(str(left)))
    b = comparable(spark.read.format("delta").load(str(right)))
    only_left, only_right = a.exceptAll(b), b.exceptAll(a)
    identical = only_left.isEmpty() and only_right.isEmpty()
    result: dict[str, Any] = {"identical": identical}
    if not identical:
        result["rows_only_left"] = only_left.count()
        result["rows_only_right"] = only_right.count()
        for side, rows in (("left", only_left), ("right", only_right)):
            sample = rows.orderBy(KEY).limit(3).collect()
            result[f"sample_only_{side}"] = [r.asDict() for r in sample]
    return result


def commits_since(spark: SparkSession, table: Path, version: int) -> list[dict[str, Any]]:
    """Operation and metrics of each commit a run added (files rewritten, rows copied, ...)."""
    history = (
        DeltaTable.forPath(spark, str(table)).history()
        .where(F.col("version") > version)
        .orderBy("version")
        .select("operation", "operationMetrics")
        .collect()
    )
    return [{"operation": h.operation, "metrics": dict(h.operationMetrics or {})} for h in history]


def row_counts(spark: SparkSession, table: Path) -> dict[str, int]:
    final = spark.read.format("delta").load(str(table))
    return {"rows": final.count(), "current_rows": final.where(F.col("is_current")).count()}


def latest_version(spark: SparkSession, table: Path) -> int:
    return DeltaTable.forPath(spark, str(table)).history(1).collect()[0].version


def timed_run(
    spark: SparkSession, method: str, base: Path, changes: Path, target: Path, files: int
) -> float:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target)
    started = time.perf_counter()
    RUNNERS[method](spark, changes, target, files)
    return time.perf_counter() - started


def run_case(
    spark: SparkSession, size: Size, shape: str, bases: dict[str, Path], methods: list[str],
    runs: int, workdir: Path,
) -> dict[str, Any]:
    case_dir = workdir / size.label / shape
    changes = case_dir / "changes"
    if changes.exists():
        shutil.rmtree(changes)
    batch = change_batch(spark, size.rows, shape, size.updated_keys, size.new_keys)
    batch.coalesce(1).write.format("delta").save(str(changes))
    (case_dir / "ranges.json").write_text(json.dumps(
        batch_ranges(size.rows, shape, size.updated_keys, size.new_keys)))
    base_versions = {m: latest_version(spark, bases[m]) for m in methods}
    times: dict[str, list[float]] = {m: [] for m in methods}
    for method in methods:
        warm = timed_run(spark, method, bases[method], changes, case_dir / f"{method}-warmup",
                         size.files)
        shutil.rmtree(case_dir / f"{method}-warmup")
        log(f"{size.label} {shape} {method}: warm-up {warm:.1f}s")
    for run in range(runs):
        for method in methods:
            target = case_dir / f"{method}-run"
            seconds = timed_run(spark, method, bases[method], changes, target, size.files)
            times[method].append(round(seconds, 3))
            log(f"{size.label} {shape} {method}: run {run + 1}/{runs} {seconds:.1f}s")
    result: dict[str, Any] = {
        m: {
            "median_s": round(statistics.median(times[m]), 3),
            "runs_s": times[m],
            **row_counts(spark, case_dir / f"{m}-run"),
            "commits": commits_since(spark, case_dir / f"{m}-run", base_versions[m]),
        }
        for m in methods
    }
    # Every updated key gains a version and every new key its first: a check that does not
    # depend on any of the methods being right.
    result["expected_rows"] = size.rows + size.updated_keys + size.new_keys
    result["expected_current_rows"] = size.rows + size.new_keys
    if "lakejobs" in methods and "textbook" in methods:
        result["lakejobs_vs_textbook"] = compare(
            spark, case_dir / "lakejobs-run", case_dir / "textbook-run")
        result["identical"] = result["lakejobs_vs_textbook"]["identical"]
        log(f"{size.label} {shape}: lakejobs vs textbook identical={result['identical']}")
    if "overwrite" in methods and "textbook" in methods:
        result["overwrite_vs_textbook"] = compare(
            spark, case_dir / "overwrite-run", case_dir / "textbook-run")
    if SCD2_FLOOR in methods and "textbook" in methods:
        result["scd2_in_ranges_vs_textbook"] = compare(
            spark, case_dir / f"{SCD2_FLOOR}-run", case_dir / "textbook-run")
    shutil.rmtree(case_dir)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000_000, help="base dimension size")
    parser.add_argument("--scale", type=int, default=4,
                        help="also run a dimension SCALE times larger (<= 1: skip it)")
    parser.add_argument("--shapes", default="clustered,scattered",
                        help="key shapes at the base size; the first one is the headline")
    parser.add_argument("--scale-shapes", default="clustered", help="key shapes at the larger size")
    parser.add_argument("--runs", type=int, default=3,
                        help="timed runs per method, each after 1 warm-up")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"subset of {','.join(METHODS)} (for testing the harness)")
    parser.add_argument("--scale-methods",
                        default="lakejobs,textbook,floor_merge,floor_replace,scd2_in_ranges",
                        help="methods at the larger size (the full overwrite is measured at the "
                        "base size only by default: the scaling goal concerns lakejobs)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/scd-bench"))
    args = parser.parse_args(argv)
    args.shapes = [s for s in args.shapes.split(",") if s]
    args.scale_shapes = [s for s in args.scale_shapes.split(",") if s]
    args.methods = [m for m in args.methods.split(",") if m]
    args.scale_methods = [m for m in args.scale_methods.split(",") if m]
    for name, values, allowed in (("--shapes", args.shapes, SHAPES),
                                  ("--scale-shapes", args.scale_shapes, SHAPES),
                                  ("--methods", args.methods, METHODS)):
        unknown = sorted(set(values) - set(allowed))
        if unknown or not values:
            parser.error(f"{name}: expected a non-empty subset of {','.join(allowed)}, "
                         f"got {','.join(values)}")
    if args.rows < 1000 or args.runs < 1:
        parser.error("--rows: expected at least 1000; --runs: expected at least 1")
    # The published numbers are for >= 5M rows; a smoke run must not overwrite them.
    if args.rows < 5_000_000 and args.out.resolve() == DEFAULT_OUT:
        parser.error(f"--rows {args.rows} is a smoke-test size: pass --out elsewhere")
    return args


def build_session(workdir: Path) -> SparkSession:
    from lakejobs.config import SparkSettings
    from lakejobs.session import build_local_session

    return build_local_session(SparkSettings(
        master="local[2]",
        app_name="scd-benchmark",
        shuffle_partitions=8,
        driver_memory="8g",
        conf={"spark.sql.warehouse.dir": str(workdir / "warehouse")},
    ))


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    # The larger dimension receives a batch of the same size (1% and 0.1% of the base rows): how
    # the cost grows with the table, not with the batch, is what scaling_clustered measures.
    updated, new = args.rows // 100, args.rows // 1000
    sizes = [Size("base", args.rows, max(1, args.rows // ROWS_PER_FILE), tuple(args.shapes),
                  updated, new)]
    if args.scale > 1:
        rows = args.rows * args.scale
        sizes.append(Size(f"x{args.scale}", rows, max(1, rows // ROWS_PER_FILE),
                          tuple(args.scale_shapes), updated, new))
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    args.workdir.mkdir(parents=True)
    spark = build_session(args.workdir)
    started = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    for size in sizes:
        log(f"{size.label}: building base dimensions of {size.rows} rows in {size.files} files")
        bases: dict[str, Path] = {}
        if "lakejobs" in args.methods:
            bases["lakejobs"] = args.workdir / size.label / "base-lakejobs"
            build_lakejobs_base(spark, size.rows, size.files, bases["lakejobs"])
        size_methods = args.methods if size.label == "base" else args.scale_methods
        if {"textbook", "overwrite", *FLOORS, SCD2_FLOOR} & set(size_methods):
            textbook = args.workdir / size.label / "base-textbook"
            bases.update({m: textbook for m in ("textbook", "overwrite", *FLOORS, SCD2_FLOOR)})
            build_textbook_base(spark, size.rows, size.files, bases["textbook"])
        results[size.label] = {}
        methods = args.methods if size.label == "base" else [
            m for m in args.methods if m in args.scale_methods]
        for shape in size.shapes:
            results[size.label][shape] = run_case(
                spark, size, shape, bases, methods, args.runs, args.workdir)
            write_json(args.out.with_suffix(".partial.json"),
                       report(args, sizes, results, time.perf_counter() - started))
        shutil.rmtree(args.workdir / size.label)
    write_json(args.out, report(args, sizes, results, time.perf_counter() - started))
    args.out.with_suffix(".partial.json").unlink(missing_ok=True)
    log(f"wrote {args.out}")
    spark.stop()


def report(
    args: argparse.Namespace, sizes: list[Size], results: dict[str, dict[str, Any]],
    elapsed_s: float,
) -> dict[str, Any]:
    base = sizes[0]
    headline = results.get(base.label, {}).get(base.shapes[0], {})

    def median(case: dict[str, Any], method: str) -> float | None:
        return case.get(method, {}).get("median_s")

    ours, anchor = median(headline, "lakejobs"), median(headline, "textbook")
    floors = [m for m in (median(headline, f) for f in FLOORS) if m is not None]
    floor = min(floors) if floors else None
    scd2_floor = median(headline, SCD2_FLOOR)
    flags = [case["identical"] for per_size in results.values() for case in per_size.values()
             if "identical" in case]
    scaling = None
    if len(sizes) > 1 and "clustered" in base.shapes and "clustered" in sizes[1].shapes:
        large = median(results.get(sizes[1].label, {}).get("clustered", {}), "lakejobs")
        small = median(results.get(base.label, {}).get("clustered", {}), "lakejobs")
        scaling = round(large / small, 3) if large and small else None
    return {
        "name": "scd",
        "params": {
            "rows": base.rows,
            "files": base.files,
            "shape": base.shapes[0],
            "updated_keys": base.updated_keys,
            "new_keys": base.new_keys,
            "scd2_columns": list(TRACKED),
            "scd1_columns": list(OVERWRITTEN),
            "sizes": {s.label: {"rows": s.rows, "files": s.files, "shapes": list(s.shapes),
                                "updated_keys": s.updated_keys, "new_keys": s.new_keys}
                      for s in sizes},
            "methods": args.methods,
            "warmup_runs": 1,
            "spark": importlib.metadata.version("pyspark"),
            "delta": importlib.metadata.version("delta-spark"),
            "master": "local[2]",
            "cpus": os.cpu_count(),
        },
        "ours_s": ours,
        "anchor": ANCHOR,
        "anchor_s": anchor,
        "ratio": round(anchor / ours, 3) if ours and anchor else None,
        "runs": args.runs,
        "identical": all(flags) if flags else None,
        "scaling_clustered": scaling,
        # The cheapest single Delta commit touching the batch's rows, and what it leaves for a
        # 2x goal: lakejobs can be 2x faster than the textbook only if this is below anchor / 2.
        "floor": "cheapest single Delta transaction touching the batch's key ranges "
                 "(min of floor_merge, floor_replace; not SCD2)",
        "floor_s": floor,
        "anchor_over_floor": round(anchor / floor, 3) if anchor and floor else None,
        # The same question for a correct SCD2 MERGE of this in-order batch: the textbook itself
        # with perfect file skipping handed to it. Below 2, the 2x goal needs lakejobs to be
        # faster than an SCD2 merge that does no history handling and gets its ranges for free.
        "scd2_floor": "the textbook merge given the batch's key ranges as literals (scd2_in_ranges)",
        "scd2_floor_s": scd2_floor,
        "anchor_over_scd2_floor": round(anchor / scd2_floor, 3) if anchor and scd2_floor
        else None,
        "ours_over_scd2_floor": round(ours / scd2_floor, 3) if ours and scd2_floor else None,
        "goals": {
            "ratio": {"target": ">= 2", "value": round(anchor / ours, 3) if ours and anchor
                      else None, "met": bool(ours and anchor and anchor / ours >= 2)},
            "scaling_clustered": {"target": "<= 1.5", "value": scaling,
                                  "met": scaling is not None and scaling <= 1.5},
        },
        "results": results,
        "elapsed_s": round(elapsed_s, 1),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
