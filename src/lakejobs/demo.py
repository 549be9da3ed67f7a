"""The end-to-end demo: the generated retail data set through every stage lakejobs has.

Two rounds, each landing its files and running ``landing_to_staging`` then ``staging_to_curated``
through the same runtime a Glue job uses; after the last round ``identity_resolution`` (when an
identity salt is configured: it is a secret, the demo never makes one up) and
``master_data_dedupe``. The summary is read back from the tables written, so it is what an
analyst would find. Running the demo again lands nothing new and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import Settings, load_settings
from lakejobs.delta_io import is_delta_table
from lakejobs.demo_data import TABLES, land_round, rounds
from lakejobs.incremental import list_files
from lakejobs.paths import LakePaths
from lakejobs.registry import get_job
from lakejobs.runtime import run_job

JOBS = ("landing_to_staging", "staging_to_curated")
FINAL_JOBS = ("identity_resolution", "master_data_dedupe")
DIMENSIONS = ("dim_customer", "dim_product")
CURATED = ("dim_date", *DIMENSIONS, "fact_orders", "fact_order_items", "fct_user_engagement",
           "agg_daily_engagement")


@dataclass
class DemoSummary:
    """What the demo's lake holds after the run, and how long each stage took."""

    landed: dict[str, int] = field(default_factory=dict)
    staged: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, int] = field(default_factory=dict)
    top_reasons: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    curated: dict[str, int] = field(default_factory=dict)
    versions: dict[str, dict[str, int]] = field(default_factory=dict)
    integrity_ok: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    data_docs: str | None = None
    lake: str = ""
    identities: dict[str, int] = field(default_factory=dict)
    identity_skipped: str | None = None
    master_data: dict[str, int] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary as text, one fact per line."""
        out = [f"lake: {self.lake}", "rows per layer (landing → staging + quarantine):"]
        for t in TABLES:
            out.append(f"  {t:<12} {self.landed.get(t, 0):>6} → {self.staged.get(t, 0):>6} + "
                       f"{self.quarantined.get(t, 0):>3}   "
                       + ", ".join(f"{r} ×{n}" for r, n in self.top_reasons.get(t, [])))
        out.append("curated: " + ", ".join(f"{t} {n}" for t, n in self.curated.items()))
        for dim, figures in self.versions.items():
            out.append(f"  {dim}: {figures['versions']} versions of {figures['keys']} keys, "
                       f"{figures['inferred']} still inferred")
        out.append(f"referential integrity: {'ok' if self.integrity_ok else 'ORPHANS'}")
        if self.identity_skipped:
            out.append(f"identity resolution: skipped ({self.identity_skipped})")
        elif self.identities:
            out.append(f"identities: {self.identities['identities']} formed from "
                       f"{self.identities['nodes']} identifier nodes")
        if self.master_data:
            m = self.master_data
            out.append(f"master data: {m['records']} source records (people, customers) → "
                       f"{m['canonical_users']} "
                       f"canonical users; {m['merged_records']} records merged, "
                       f"{m['queued']} pairs queued for review")
        out.append("time: " + ", ".join(f"{j} {s:.1f}s" for j, s in self.seconds.items()))
        if self.data_docs:
            out.append(f"Data Docs: {self.data_docs}/index.html")
        return out


def run_demo(
    env: str = "dev",
    *,
    config: str | None = None,
    customers: int = 200,
    spark: SparkSession | None = None,
    report: Callable[[str], None] = lambda _: None,
) -> DemoSummary:
    """Land the demo data in two rounds, run the jobs after each, and summarise the lake.

    Args:
        customers: size of the data set (orders ≈ 3×, events ≈ 7× this).
        spark: a session to use (tests); one is built from the settings otherwise.
        report: receives a progress line per step (the CLI prints them).
    """
    settings = load_settings(env, config)
    if spark is None:
        from lakejobs.session import build_local_session

        spark = build_local_session(settings.spark)
        _quiet(spark)
    paths = LakePaths(settings.lake)
    data = rounds(customers)
    seconds = {job: 0.0 for job in JOBS}
    for round_no in (1, 2):
        landed = land_round(paths, round_no, data[round_no])
        report(f"round {round_no}: landed {sum(landed.values())} records" if landed
               else f"round {round_no}: landing files already there")
        if not landed and round_no == 1:
            continue  # nothing new from round 1: the jobs after round 2 pick up whatever is left
        for job in JOBS:
            started = time.monotonic()
            argv = ["lakejobs demo", "--JOB_NAME", job, "--env", env,
                    *(["--config", config] if config else [])]
            result = run_job(get_job(job), argv, spark=spark).result
            seconds[job] += time.monotonic() - started
            report(f"round {round_no}: {job}: {result.rows_read} read, {result.rows_written} "
                   f"written, {result.rows_quarantined} quarantined")
    skipped = None
    for job in FINAL_JOBS:
        if job == "identity_resolution":
            skipped = _identity_skip_reason(settings)
            if skipped:
                report(f"{job}: skipped ({skipped})")
                continue
        started = time.monotonic()
        argv = ["lakejobs demo", "--JOB_NAME", job, "--env", env,
                *(["--config", config] if config else [])]
        result = run_job(get_job(job), argv, spark=spark).result
        seconds[job] = time.monotonic() - started
        report(f"{job}: {result.rows_read} read, {result.rows_written} written, "
               f"{result.rows_quarantined} quarantined")
    summary = summarize(spark, settings, paths, seconds)
    summary.identity_skipped = skipped
    return summary


def _identity_skip_reason(settings: Settings) -> str | None:
    """Why identity resolution cannot run: its salt is a secret the demo must not invent."""
    from lakejobs.errors import SecretError
    from lakejobs.secrets import read_secret

    try:
        read_secret(settings.secrets.identity_salt, region=settings.secrets.region)
    except SecretError:
        return f"set {settings.secrets.identity_salt.name} to a secret salt to include it"
    return None


def _quiet(spark: SparkSession) -> None:
    """Keep the demo's own session to its progress lines: Spark's WARN chatter off, and the
    query-listener errors GX's Spark engine provokes (a probe query it expects to fail, reported
    again by Spark 4's observation listener) silenced. Only for a session the demo built."""
    spark.sparkContext.setLogLevel("ERROR")
    jvm = spark.sparkContext._jvm
    jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(
        "org.apache.spark.sql.util.ExecutionListenerBus", jvm.org.apache.logging.log4j.Level.OFF)


def summarize(spark: SparkSession, settings: Settings, paths: LakePaths,
              seconds: dict[str, float]) -> DemoSummary:
    """Read the demo's figures back from the lake."""
    summary = DemoSummary(seconds={k: round(v, 1) for k, v in seconds.items()},
                          data_docs=settings.validation.data_docs, lake=paths.base)
    for table in TABLES:
        files = [f for f in list_files(spark, paths.table("landing", table))
                 if f.endswith(".jsonl")]
        summary.landed[table] = spark.read.text(files).count() if files else 0
        summary.staged[table] = _count(spark, paths.table("staging", table))
        quarantine = paths.table("quarantine", table)
        summary.quarantined[table] = _count(spark, quarantine)
        if summary.quarantined[table]:
            reasons = (_read(spark, quarantine).select(F.explode("failures.reason").alias("r"))
                       .groupBy("r").count().orderBy(F.desc("count"), "r").limit(3).collect())
            summary.top_reasons[table] = [(row.r, row["count"]) for row in reasons]
    summary.curated = {t: _count(spark, paths.table("curated", t)) for t in CURATED}
    for dim in DIMENSIONS:
        path = paths.table("curated", dim)
        if is_delta_table(spark, path):
            rows = _read(spark, path).where(F.col("is_current").isNotNull())
            key = rows.columns[1]
            real = rows.where(F.col(key).isNotNull())
            figures = real.agg(F.count(F.lit(1)).alias("versions"),
                               F.count_distinct(key).alias("keys"),
                               F.count(F.when(F.col("is_inferred") & F.col("is_current"), 1))
                               .alias("inferred")).first()
            summary.versions[dim] = figures.asDict()
    identity = paths.table(settings.identity.zone, "identity_resolution")
    if is_delta_table(spark, identity):
        row = _read(spark, identity).agg(F.count(F.lit(1)).alias("nodes"),
                                         F.count_distinct("identity_id").alias("identities")
                                         ).first()
        summary.identities = row.asDict()
    users = paths.table(settings.dedupe.zone, "canonical_users")
    if is_delta_table(spark, users):
        row = _read(spark, users).agg(
            F.sum("records").alias("records"), F.count(F.lit(1)).alias("canonical_users"),
            F.sum(F.when(F.col("records") > 1, F.col("records"))).alias("merged")).first()
        queued = _read(spark, paths.table(settings.dedupe.zone, "potential_duplicates")).where(
            F.col("status") == "open").count()
        summary.master_data = {"records": int(row.records or 0),
                               "canonical_users": row.canonical_users,
                               "merged_records": int(row.merged or 0), "queued": queued}
    run_log = paths.table("system", settings.tables.run_log)
    last = (_read(spark, run_log).where(F.col("job_name") == "staging_to_curated")
            .orderBy(F.desc("completed_at")).select("summary").first())
    if last is not None and last.summary:
        import json

        summary.integrity_ok = json.loads(last.summary).get("integrity", {}).get("ok")
    return summary


def _read(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def _count(spark: SparkSession, path: str) -> int:
    return _read(spark, path).count() if is_delta_table(spark, path) else 0
