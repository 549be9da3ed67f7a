"""Kafka records kept in Parquet files: the file-backed source of the streaming job.

Where no broker runs (a laptop, the demo, a CI box) the same records can be fed to the same
``msk_to_landing`` code from a folder of Parquet files holding exactly what the Kafka source
returns: ``key``, ``value`` (bytes), ``topic``, ``partition``, ``offset`` and ``timestamp``. Spark's
file stream source remembers in the query's checkpoint which files it has read, so a new file is
read once and a restart neither skips nor repeats one — the same exactly-once contract as the
Kafka offsets.

A file appears in the folder in one rename (:func:`write_record_file`), so the stream never reads
half of one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakejobs.local_rows import rows_frame
from lakejobs.paths import validate_name

RECORD_SCHEMA = T.StructType([
    T.StructField("key", T.BinaryType()),
    T.StructField("value", T.BinaryType()),
    T.StructField("topic", T.StringType(), False),
    T.StructField("partition", T.IntegerType(), False),
    T.StructField("offset", T.LongType(), False),
    T.StructField("timestamp", T.TimestampType(), False),
])

Record = tuple[bytes | None, bytes | None, str, int, int, datetime]


def read_record_files(spark: SparkSession, path: str) -> DataFrame:
    """A stream of the Kafka records in the Parquet files directly under ``path``."""
    return spark.readStream.schema(RECORD_SCHEMA).parquet(path)


def write_record_file(spark: SparkSession, records: Sequence[Record], folder: str | Path,
                      name: str) -> bool:
    """Write ``records`` as ``<folder>/<name>.parquet`` unless that file exists already.

    Returns whether the file was written. Local folders only (the demo and tests write them;
    on AWS the records come from MSK).
    """
    target = Path(folder) / f"{validate_name(name, 'source')}.parquet"
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".writing-") as work:
        staged = Path(work) / "records"
        (rows_frame(spark, list(records), RECORD_SCHEMA).coalesce(1)
         .write.parquet(str(staged)))
        part = next(staged.glob("part-*.parquet"))
        part.rename(target)  # one atomic rename: the stream sees the whole file or nothing
        shutil.rmtree(staged, ignore_errors=True)
    return True
