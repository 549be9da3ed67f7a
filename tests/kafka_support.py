"""Write records to and read them back from a real Kafka topic with Spark's Kafka batch connector.

Used with the ``kafka_broker`` fixture (a :class:`lakejobs.local_kafka.LocalKafka`): the bytes go
through the broker exactly as the streaming jobs will see them, partitions and offsets included.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakejobs.local_rows import rows_frame

# (key, value) or (key, value, partition); a None value is a tombstone.
Record = tuple[bytes | None, bytes | None] | tuple[bytes | None, bytes | None, int]

_KEY_VALUE = [T.StructField("key", T.BinaryType()), T.StructField("value", T.BinaryType())]
_PARTITION = T.StructField("partition", T.IntegerType())


def produce(spark: SparkSession, bootstrap: str, topic: str, records: Sequence[Record]) -> None:
    """Write ``records`` to ``topic`` in list order with Spark's Kafka batch sink.

    Records with a partition go to that partition; without one, Kafka's partitioner picks it
    (by key hash). A ``None`` value is written as a null value, a Kafka tombstone.
    """
    if any(len(record) == 3 for record in records):
        schema = T.StructType([*_KEY_VALUE, _PARTITION])
        rows = [(r[0], r[1], r[2] if len(r) == 3 else None) for r in records]
    else:
        schema = T.StructType(_KEY_VALUE)
        rows = [tuple(r) for r in records]
    frame = rows_frame(spark, rows, schema)
    (frame
     # One writer task, so records reach each partition in list order and offsets are predictable.
     .coalesce(1)
     .write.format("kafka")
     .option("kafka.bootstrap.servers", bootstrap)
     .option("topic", topic)
     .save())


def read_topic(spark: SparkSession, bootstrap: str, topic: str) -> DataFrame:
    """Everything in ``topic`` now, as ``key``, ``value`` (binary), ``partition``, ``offset``."""
    return (spark.read.format("kafka")
            .option("kafka.bootstrap.servers", bootstrap)
            .option("subscribe", topic)
            .option("startingOffsets", "earliest")
            .option("endingOffsets", "latest")
            .load()
            .select("key", "value", "partition", "offset"))
