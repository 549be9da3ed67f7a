"""Landing tables that mix the streaming job's Parquet with JSON-line drops, and contract
columns that fall back to another column when a source does not carry them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakejobs.batch.conform import conform
from lakejobs.batch.contracts import Contract
from lakejobs.batch.landing import complete_files, read_landed
from lakejobs.batch.rules import flag_column

CONTRACT = Contract(table="things", keys=("id",), columns=(
    {"name": "id", "type": "bigint", "nullable": False},
    {"name": "name", "type": "string"},
    {"name": "updated_at", "type": "timestamp"},
    {"name": "_event_time", "type": "timestamp", "nullable": False, "fallback": "updated_at"},
))


def test_parquet_and_json_lines_in_one_table_conform_alike_and_metadata_is_not_drift(
    spark: SparkSession, tmp_path: Path
) -> None:
    landing = tmp_path / "landing" / "things"
    # what the streaming job lands: typed columns, its own _-prefixed metadata, one unknown field
    spark.createDataFrame(
        [(1, "a", datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 5), "retail.thing.cdc", "x")],
        "id bigint, name string, updated_at timestamp, _event_time timestamp, _topic string, "
        "colour string",
    ).write.parquet(str(landing / "hour=00" / "batch=0"))
    drop = landing / "dt=2026-01-02"
    drop.mkdir(parents=True)
    (drop / "part-0.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"id": "2", "name": "b", "updated_at": "2026-01-02T00:00:00Z"},  # no _event_time
        {"id": "3", "name": "c"},                                         # neither time
    ]) + "\n")
    (drop / "_SUCCESS").write_text("")

    files = complete_files(spark, str(landing))
    conformed = read_landed(spark, files, CONTRACT).transform(conform(CONTRACT))

    expected = spark.createDataFrame([
        (1, "a", datetime(2026, 1, 1), datetime(2026, 1, 1, 0, 0, 5), '{"colour":"x"}', False),
        (2, "b", datetime(2026, 1, 2), datetime(2026, 1, 2), "{}", False),
        (3, "c", None, None, "{}", True),
    ], "id bigint, name string, updated_at timestamp, _event_time timestamp, extra string, "
       "missing_time boolean")
    assert_df_equality(
        conformed.select("id", "name", "updated_at", "_event_time",
                         F.to_json("_extra_columns").alias("extra"),
                         F.col(flag_column("contract__event_time_required")).alias(
                             "missing_time")),
        expected, ignore_row_order=True, ignore_nullable=True)
    # the raw record of the Parquet row keeps the metadata, as JSON
    raw = conformed.where("id = 1").select("_raw_record").first()[0]
    assert json.loads(raw)["_topic"] == "retail.thing.cdc"


def test_a_fallback_must_name_another_column_of_the_same_type() -> None:
    with pytest.raises(ValidationError, match="fallback 'name': expected another column of "
                                              "type timestamp"):
        Contract(table="things", columns=(
            {"name": "name", "type": "string"},
            {"name": "changed_at", "type": "timestamp", "fallback": "name"}))
