"""The local session factory."""

from __future__ import annotations

from pyspark.sql import SparkSession

from lakejobs._compat import current_stack
from lakejobs.config import SparkSettings
from lakejobs.session import has_delta, local_session_conf


def test_session_has_delta_extension_catalog_and_small_shuffles(spark: SparkSession) -> None:
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.catalog.spark_catalog") == (
        "org.apache.spark.sql.delta.catalog.DeltaCatalog"
    )
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.sparkContext.getConf().get("spark.ui.enabled") == "false"
    assert has_delta(spark)


def test_session_resolves_the_stack_connectors_from_maven(spark: SparkSession) -> None:
    packages = spark.sparkContext.getConf().get("spark.jars.packages").split(",")
    assert packages == current_stack().packages()


def test_the_driver_runs_the_parallel_collector_and_a_larger_codegen_cache(
    spark: SparkSession,
) -> None:
    jvm = spark.sparkContext._jvm
    collectors = {b.getName() for b in jvm.java.lang.management.ManagementFactory
                  .getGarbageCollectorMXBeans()}
    assert collectors == {"PS Scavenge", "PS MarkSweep"}  # not G1's "G1 Young Generation"
    assert spark.conf.get("spark.sql.codegen.cache.maxEntries") == "2000"
    assert jvm.java.lang.System.getProperty("user.timezone") == "UTC"
    hotspot = jvm.java.lang.management.ManagementFactory.getPlatformMXBean(
        jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean"))
    # the suite's session is for tiny tables: HotSpot's default 8,000-byte limit applies
    assert hotspot.getVMOption("DontCompileHugeMethods").getValue() == "true"
    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"


def test_local_sessions_compile_huge_generated_methods_unless_the_tables_are_tiny() -> None:
    def java_options(conf: dict[str, str]) -> tuple[list[str], list[str]]:
        return (conf["spark.driver.extraJavaOptions"].split(),
                conf["spark.executor.extraJavaOptions"].split())

    default = local_session_conf(SparkSettings())
    tiny = local_session_conf(SparkSettings(tiny_tables=True))
    avro = "-Dorg.apache.avro.limits.collectionItems.maxLength=10000000"
    assert java_options(default) == (
        ["-Duser.timezone=UTC", "-XX:-DontCompileHugeMethods", "-XX:+UseParallelGC", avro],
        ["-Duser.timezone=UTC", "-XX:-DontCompileHugeMethods", avro])
    assert java_options(tiny) == (
        ["-Duser.timezone=UTC", "-XX:+UseParallelGC", avro], ["-Duser.timezone=UTC", avro])
    assert tiny["spark.python.sql.dataFrameDebugging.enabled"] == "false"
    assert "spark.python.sql.dataFrameDebugging.enabled" not in default
    assert tiny["spark.sql.adaptive.enabled"] == "false"
    assert "spark.sql.adaptive.enabled" not in default
    # the settings' own conf still wins
    assert local_session_conf(SparkSettings(tiny_tables=True, conf={
        "spark.python.sql.dataFrameDebugging.enabled": "true"}))[
        "spark.python.sql.dataFrameDebugging.enabled"] == "true"


def test_config_overrides_local_defaults() -> None:
    conf = local_session_conf(
        SparkSettings(shuffle_partitions=8, conf={"spark.sql.shuffle.partitions": "3"})
    )
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.default.parallelism"] == "8"
    assert conf["spark.sql.sources.parallelPartitionDiscovery.parallelism"] == "8"


def test_kafka_and_avro_sources_are_on_the_classpath(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    for cls in ("org.apache.spark.sql.kafka010.KafkaSourceProvider",
                "org.apache.spark.kafka010.KafkaConfigUpdater",
                "org.apache.spark.sql.avro.AvroFileFormat"):
        assert jvm.java.lang.Class.forName(cls, False, loader).getName() == cls


def test_delta_round_trip(spark: SparkSession, tmp_path) -> None:
    path = str(tmp_path / "t")
    spark.range(3).write.format("delta").save(path)
    assert [r.id for r in spark.read.format("delta").load(path).orderBy("id").collect()] == [0, 1, 2]
