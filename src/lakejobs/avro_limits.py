"""The bound on Avro collections: a JVM system property that Spark's driver and executors must
both carry (set by :mod:`lakejobs.session` on local sessions and by :mod:`lakejobs.deploy` in the
Glue job definitions). No pyspark here: rendering a Glue job needs none."""

from __future__ import annotations

# Avro reads an array or map's item count from the message and allocates for it; items of no
# bytes (nulls, empty records) escape its check against the bytes left, so a 7-byte message
# claiming 10^9 of them ran the JVM out of memory (fatal: the batch fails, no quarantine).
# Bounded, Avro raises an ordinary error and the record is quarantined. No legitimate Kafka
# message (a few MB at most) holds ten million items in one collection.
AVRO_LIMIT_PROPERTY = "org.apache.avro.limits.collectionItems.maxLength"
AVRO_COLLECTION_LIMIT = 10_000_000
AVRO_LIMIT_OPTION = f"-D{AVRO_LIMIT_PROPERTY}={AVRO_COLLECTION_LIMIT}"
