"""Identity tests' lake: staging events written as the validation job does, and the identity
jobs run on them through ``run_job``."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lakejobs.commit_versions import ROW_TRACKING_OPTIONS
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import JobResult, run_job

SALT = "test-salt-not-a-secret"
EVENT = T.StructType([
    T.StructField("event_id", T.StringType()),
    T.StructField("occurred_at", T.TimestampType()),
    T.StructField("user_id", T.StringType()),
    T.StructField("anon_id", T.StringType()),
    T.StructField("session_id", T.StringType()),
    T.StructField("device_ua_hash", T.StringType()),
])
DAY1 = datetime(2026, 3, 1, 12)


def node(prefix: str, raw: str) -> str:
    """The node of a raw identifier, computed independently of lakejobs."""
    return f"{prefix}:{hashlib.sha256((raw + SALT).encode()).hexdigest()}"


class IdentityLake:
    """Staging events written as the validation job does, and the identity job run on them."""

    def __init__(self, spark: SparkSession, tmp_path: Path, dsar_tables: list | None = None,
                 maintenance: dict | None = None) -> None:
        self.spark = spark
        self.root = tmp_path / "lake"
        self.config = tmp_path / "dev.yaml"
        self.config.write_text(json.dumps({
            "env": "dev", "lake": {"root": str(self.root)},
            "identity": {
                "sources": [{"zone": "staging", "table": "events", "time_column": "occurred_at",
                             "identifiers": {"user_id": "u", "anon_id": "a", "session_id": "s",
                                             "device_ua_hash": "d"}}],
                "dsar_tables": dsar_tables or [],
            },
            **({"maintenance": maintenance} if maintenance else {}),
        }))
        self.batches = 0

    def stage(self, rows: list[tuple], *, stamped_at: datetime | None = None) -> None:
        """Append ``rows``, stamped ``_validated_at`` one second per batch (or ``stamped_at``),
        to a staging table that tracks its rows' commit versions, as the validation job's."""
        self.batches += 1
        df = rows_frame(self.spark, rows, EVENT).withColumn(
            "_validated_at", F.lit(stamped_at or datetime(2026, 4, 1, 0, 0, self.batches)))
        df.write.format("delta").mode("append").options(**ROW_TRACKING_OPTIONS).save(
            str(self.root / "staging" / "events"))

    def run(self, run_id: str, as_of: datetime, *, job: str = "identity_resolution",
            full: bool = False) -> JobResult:
        argv = ["job.py", "--JOB_NAME", job, "--env", "dev", "--config", str(self.config),
                "--JOB_RUN_ID", run_id, "--as_of", as_of.isoformat()]
        if full:
            argv += ["--full", "true"]
        return run_job(get_job(job), argv, spark=self.spark).result

    def table(self, name: str, zone: str = "staging") -> DataFrame:
        return self.spark.read.format("delta").load(str(self.root / zone / name))

    def ids(self) -> dict[str, str]:
        """node → identity_id."""
        return {r.node: r.identity_id for r in
                self.table("identity_resolution").select("node", "identity_id").collect()}

    def history(self, run_id: str) -> list[tuple]:
        rows = self.table("identity_id_history").where(F.col("run_id") == run_id).collect()
        return sorted((r.change, r.identity_id, r.new_identity_id, r.nodes) for r in rows)


def ev(n: int, at: datetime, user=None, anon=None, session=None, device=None) -> tuple:
    return (f"e{n}", at, user, anon, session, device)
