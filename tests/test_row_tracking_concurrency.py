"""Two staging writers (landing → staging and the quarantine replay) that find one table without
row tracking turn it on together: Delta commits one change of the table's properties and refuses
the other as a metadata conflict; the loser finds row tracking on and goes on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakejobs import commit_versions
from lakejobs.commit_versions import ROW_TRACKING, enable_row_tracking
from lakejobs.concurrency import run_side_by_side
from lakejobs.local_rows import rows_frame


def test_two_writers_turning_row_tracking_on_together_both_go_on(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "orders")
    rows_frame(spark, [(1, "a")], "id long, v string").write.format("delta").save(path)
    # both writers read the table's properties before either changes them (their first read)
    both_read = threading.Barrier(2, timeout=120)
    read_properties = commit_versions._properties
    waited = threading.local()

    def properties_then_wait(spark: SparkSession, path: str) -> dict[str, str]:
        found = read_properties(spark, path)
        if not getattr(waited, "done", False):
            waited.done = True
            both_read.wait()
        return found

    monkeypatch.setattr(commit_versions, "_properties", properties_then_wait)

    changed = run_side_by_side([lambda: enable_row_tracking(spark, path)] * 2, 2)

    properties = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["properties"]
    assert properties[ROW_TRACKING] == "true"
    assert True in changed  # one turned it on; the other found it on, or finished the change
