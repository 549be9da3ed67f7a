"""Per-batch metrics of the streaming job: conservation figures, schema-failure rate, lag.

Records in = landed + quarantined + duplicates, for every batch (checked before anything is
written). The schema-failure rate counts records that could not be read as their contract
says; above ``streaming.schema_failure_alert_rate`` the batch raises an alert flag (and an
ERROR log line an alarm can match).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime

from pyspark.sql import types as T

from lakejobs.errors import ConservationError
from lakejobs.streaming import reasons

SCHEMA_FAILURES = (reasons.UNDECODABLE, reasons.UNKNOWN_SCHEMA_ID, reasons.UNKNOWN_EVENT,
                   reasons.UNKNOWN_VERSION, reasons.CONTRACT_VIOLATION, reasons.MISSING_KEY)

METRICS_SCHEMA = T.StructType([
    T.StructField("query", T.StringType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("batch_id", T.LongType(), False),
    T.StructField("ingested_at", T.TimestampType(), False),
    T.StructField("records_in", T.LongType(), False),
    T.StructField("landed", T.LongType(), False),
    T.StructField("quarantined", T.LongType(), False),
    T.StructField("duplicates", T.LongType(), False),
    T.StructField("late", T.LongType(), False),
    T.StructField("schema_failures", T.LongType(), False),
    T.StructField("schema_failure_rate", T.DoubleType(), False),
    T.StructField("lag_p50_s", T.DoubleType()),
    T.StructField("lag_p95_s", T.DoubleType()),
    T.StructField("alert", T.BooleanType(), False),
    T.StructField("landed_by_table", T.StringType(), False),
    T.StructField("quarantined_by_reason", T.StringType(), False),
])


@dataclass(frozen=True)
class BatchMetrics:
    """What one micro-batch did."""

    query: str
    run_id: str
    batch_id: int
    ingested_at: datetime
    records_in: int
    landed: int
    quarantined: int
    duplicates: int
    late: int
    lag_p50_s: float | None
    lag_p95_s: float | None
    alert_rate: float
    landed_by_table: dict[str, int] = field(default_factory=dict)
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)

    @property
    def schema_failures(self) -> int:
        return sum(n for r, n in self.quarantined_by_reason.items() if r in SCHEMA_FAILURES)

    @property
    def schema_failure_rate(self) -> float:
        return self.schema_failures / self.records_in if self.records_in else 0.0

    @property
    def alert(self) -> bool:
        return self.schema_failure_rate > self.alert_rate

    def check_conservation(self) -> None:
        """Raise unless records in = landed + quarantined + duplicates."""
        if self.records_in != self.landed + self.quarantined + self.duplicates:
            raise ConservationError(
                f"batch {self.batch_id}: {self.records_in} records read but {self.landed} "
                f"landed + {self.quarantined} quarantined + {self.duplicates} duplicates")

    def row(self) -> tuple:
        """The metrics table row (column order of :data:`METRICS_SCHEMA`)."""
        return (self.query, self.run_id, self.batch_id, self.ingested_at, self.records_in,
                self.landed, self.quarantined, self.duplicates, self.late,
                self.schema_failures, self.schema_failure_rate, self.lag_p50_s, self.lag_p95_s,
                self.alert, json.dumps(self.landed_by_table, sort_keys=True),
                json.dumps(self.quarantined_by_reason, sort_keys=True))

    def summary(self) -> dict:
        """The figures for the run log and the log line."""
        figures = asdict(self)
        figures.pop("alert_rate")
        figures["ingested_at"] = self.ingested_at.isoformat()
        figures.update(schema_failures=self.schema_failures,
                       schema_failure_rate=round(self.schema_failure_rate, 6), alert=self.alert)
        return figures
