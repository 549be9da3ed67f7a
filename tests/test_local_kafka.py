"""The local Kafka broker: a real KRaft broker that Spark's Kafka connector writes to and reads."""

from __future__ import annotations

from chispa import assert_df_equality
from kafka_support import produce, read_topic
from pyspark.sql import SparkSession
from pyspark.sql import types as T

from lakejobs.local_kafka import LocalKafka
from lakejobs.local_rows import rows_frame

READ_SCHEMA = T.StructType([
    T.StructField("key", T.BinaryType()),
    T.StructField("value", T.BinaryType()),
    T.StructField("partition", T.IntegerType()),
    T.StructField("offset", T.LongType()),
])


def test_records_sent_to_explicit_partitions_read_back_in_order_with_a_tombstone(
    spark: SparkSession, kafka_broker: LocalKafka,
) -> None:
    kafka_broker.create_topic("local-kafka-roundtrip", partitions=3)
    produce(spark, kafka_broker.bootstrap_servers, "local-kafka-roundtrip", [
        (b"c-1", b'{"name":"Ada"}', 0),
        (b"c-2", b'{"name":"Grace"}', 1),
        (b"c-1", b'{"name":"Ada L."}', 0),
        (b"c-3", b'{"name":"Edsger"}', 2),
        (b"c-2", None, 1),
        (None, b'{"name":"anonymous"}', 2),
    ])

    actual = read_topic(spark, kafka_broker.bootstrap_servers, "local-kafka-roundtrip")

    expected = rows_frame(spark, [
        (b"c-1", b'{"name":"Ada"}', 0, 0),
        (b"c-1", b'{"name":"Ada L."}', 0, 1),
        (b"c-2", b'{"name":"Grace"}', 1, 0),
        (b"c-2", None, 1, 1),
        (b"c-3", b'{"name":"Edsger"}', 2, 0),
        (None, b'{"name":"anonymous"}', 2, 1),
    ], READ_SCHEMA)
    assert_df_equality(actual, expected, ignore_row_order=True)
