"""The end-to-end demo: the generated retail data set through every stage lakejobs has.

Two rounds. Each publishes the round's Kafka records (:mod:`lakejobs.demo_kafka`: Debezium change
events and signed analytics envelopes) — to a Kafka broker when one answers at the configured
bootstrap servers, otherwise as record files that feed the same streaming code — drops the
round's people files in landing, then runs ``msk_to_landing``, ``landing_to_staging`` and
``staging_to_curated`` through the same runtime a Glue job uses; after the last round
``identity_resolution`` (when an
identity salt is configured: it is a secret, the demo never makes one up) and
``master_data_dedupe``. The summary is read back from the tables written, so it is what an
analyst would find. Running the demo again lands nothing new and changes nothing.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.config import Settings, load_settings
from lakejobs.delta_io import is_delta_table
from lakejobs.demo_data import TABLES, land_round, rounds
from lakejobs.demo_kafka import STREAMED, broker_answers, kafka_records, publish
from lakejobs.errors import ConfigError
from lakejobs.incremental import list_files
from lakejobs.paths import LakePaths
from lakejobs.registry import get_job
from lakejobs.resources import resolve_location
from lakejobs.runtime import run_job
from lakejobs.streaming.manifest import load_manifest
from lakejobs.streaming.record_files import write_record_file

JOBS = ("msk_to_landing", "landing_to_staging", "staging_to_curated")
FINAL_JOBS = ("identity_resolution", "master_data_dedupe")
DIMENSIONS = ("dim_customer", "dim_product")
CURATED = ("dim_date", *DIMENSIONS, "fact_orders", "fact_order_items", "fct_user_engagement",
           "agg_daily_engagement")


@dataclass
class DemoSummary:
    """What the demo's lake holds after the run, and how long each stage took."""

    source: str = ""
    streamed: dict[str, int] = field(default_factory=dict)
    stream_reasons: list[tuple[str, int]] = field(default_factory=list)
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
        out = [f"lake: {self.lake}"]
        if self.streamed:
            st = self.streamed
            out.append(f"streaming from {self.source}: {st['records_in']} records → "
                       f"{st['landed']} landed ({st['late']} flagged late) + "
                       f"{st['quarantined']} quarantined ("
                       + ", ".join(f"{r} ×{n}" for r, n in self.stream_reasons)
                       + f") + {st['duplicates']} duplicates dropped, in {st['batches']} "
                       "micro-batches")
        out.append("rows per layer (landing → staging + quarantine):")
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
    kafka: str | None = None,
) -> DemoSummary:
    """Publish and land the demo data in two rounds, run the jobs after each, and summarise.

    Args:
        customers: size of the data set (orders ≈ 3×, events ≈ 7× this).
        spark: a session to use (tests); one is built from the settings otherwise.
        report: receives a progress line per step (the CLI prints them).
        kafka: bootstrap servers of a broker to stream through (it must answer); default: the
            config's when a broker answers there, else record files.
    """
    settings = load_settings(env, config)
    if spark is None:
        from lakejobs.session import build_local_session

        # Great Expectations takes seconds to import and the validation job needs it: import it
        # while the JVM starts (the main thread only waits for it then)
        threading.Thread(target=importlib.import_module, args=("great_expectations",),
                         name="lakejobs-preload", daemon=True).start()
        spark = build_local_session(settings.spark.model_copy(update={"tiny_tables": True}))
        _quiet(spark)
        # the demo's tables are tiny: compiling whole-stage code for every query costs more
        # than the generated code saves (~10% of the demo's time); only this session
        spark.conf.set("spark.sql.codegen.wholeStage", "false")
    paths = LakePaths(settings.lake)
    data = rounds(customers)
    records = kafka_records(data, load_manifest(resolve_location(settings.streaming.manifest)))
    feed = _Feed.choose(spark, settings, paths, kafka)
    report(f"streaming source: {feed.description}")
    seconds = {job: 0.0 for job in JOBS}
    for round_no in (1, 2):
        sent = feed.send(round_no, records[round_no])
        landed = land_round(paths, round_no, {t: data[round_no][t] for t in TABLES
                                              if t not in STREAMED})
        report(f"round {round_no}: {sent} Kafka records published, {sum(landed.values())} "
               "people records dropped in landing" if sent or landed
               else f"round {round_no}: records already published and landed")
        if not sent and not landed and round_no == 1:
            continue  # nothing new from round 1: the jobs after round 2 pick up whatever is left
        for job in JOBS:
            started = time.monotonic()
            argv = ["lakejobs demo", "--JOB_NAME", job, "--env", env,
                    *(["--config", config] if config else []),
                    *(feed.arguments if job == "msk_to_landing" else [])]
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
    summary.source = feed.name
    return summary


@dataclass(frozen=True)
class _Feed:
    """Where the demo's Kafka records go: a broker, or record files the job reads instead."""

    spark: SparkSession
    folder: Path
    bootstrap_servers: str | None

    @classmethod
    def choose(cls, spark: SparkSession, settings: Settings, paths: LakePaths,
               kafka: str | None) -> _Feed:
        folder = Path(paths.base.removeprefix("file://")) / "_demo_kafka"
        if kafka is not None and not broker_answers(kafka):
            raise ConfigError(f"--kafka {kafka}: no Kafka broker answers there: expected "
                              "HOST:PORT of a running broker (or leave --kafka out)")
        servers = kafka or settings.streaming.bootstrap_servers
        use_kafka = (kafka is not None or (settings.streaming.security.protocol == "plaintext"
                                           and broker_answers(servers)))
        return cls(spark, folder, servers if use_kafka else None)

    @property
    def name(self) -> str:
        if self.bootstrap_servers:
            return f"the Kafka broker at {self.bootstrap_servers}"
        return f"record files in {self.folder / 'records'}"

    @property
    def description(self) -> str:
        return self.name if self.bootstrap_servers else (
            f"{self.name} (no Kafka broker answers at the configured bootstrap servers)")

    @property
    def arguments(self) -> list[str]:
        if self.bootstrap_servers:
            return ["--bootstrap_servers", self.bootstrap_servers]
        return ["--records_path", str(self.folder / "records")]

    def send(self, round_no: int, records: list) -> int:
        """Publish one round's records unless that was done before; returns how many were."""
        if self.bootstrap_servers is None:
            written = write_record_file(self.spark, records, self.folder / "records",
                                        f"round-{round_no}")
            return len(records) if written else 0
        marker = self.folder / f"published-round-{round_no}"
        if marker.exists():
            return 0
        publish(self.spark, self.bootstrap_servers, records)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(self.bootstrap_servers, encoding="utf-8")
        return len(records)


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
    off = jvm.org.apache.logging.log4j.Level.OFF
    configurator = jvm.org.apache.logging.log4j.core.config.Configurator
    configurator.setLevel("org.apache.spark.sql.util.ExecutionListenerBus", off)


def summarize(spark: SparkSession, settings: Settings, paths: LakePaths,
              seconds: dict[str, float]) -> DemoSummary:
    """Read the demo's figures back from the lake."""
    summary = DemoSummary(seconds={k: round(v, 1) for k, v in seconds.items()},
                          data_docs=settings.validation.data_docs, lake=paths.base)
    batches = paths.table("system", settings.streaming.metrics_table)
    if is_delta_table(spark, batches):
        row = _read(spark, batches).where(F.col("query") == settings.streaming.query_name).agg(
            *[F.coalesce(F.sum(c), F.lit(0)).alias(c)
              for c in ("records_in", "landed", "quarantined", "duplicates", "late")],
            F.count(F.lit(1)).alias("batches")).first()
        summary.streamed = {k: int(v) for k, v in row.asDict().items()}
        rejected = paths.table("quarantine", settings.streaming.quarantine_table)
        if is_delta_table(spark, rejected):
            reasons = (_read(spark, rejected).groupBy("reason").count()
                       .orderBy(F.desc("count"), "reason").collect())
            summary.stream_reasons = [(r.reason, r["count"]) for r in reasons]
    for table in TABLES:
        files = list_files(spark, paths.table("landing", table))
        lines = [f for f in files if f.endswith(".jsonl")]
        parquet = [f for f in files if f.endswith(".parquet")]
        summary.landed[table] = ((spark.read.text(lines).count() if lines else 0)
                                 + (spark.read.parquet(*parquet).count() if parquet else 0))
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
