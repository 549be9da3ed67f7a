"""The SparkSession factory: the only library module that calls ``SparkSession.builder``.

Locally it builds a session with Delta's SQL extension and catalog and the connector jars the jobs
need (Delta, Kafka, Avro), resolved from Maven Central by coordinates that match the installed
pyspark and cached in an Ivy folder after the first download. On AWS Glue the job entrypoint takes
Glue's own session instead and this module is not used.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from pyspark.sql import SparkSession

from lakejobs._compat import current_stack
from lakejobs.avro_limits import AVRO_COLLECTION_LIMIT, AVRO_LIMIT_OPTION, AVRO_LIMIT_PROPERTY
from lakejobs.concurrency import exclusive_lock
from lakejobs.config import SparkSettings
from lakejobs.errors import SessionError
from lakejobs.jars import fetch_jar

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


JIT_OPTION = "-XX:-DontCompileHugeMethods"


def local_session_conf(settings: SparkSettings) -> dict[str, str]:
    """Spark settings for a local run, tuned for a small machine; ``settings.conf`` wins."""
    stack = current_stack()
    cache = Path(settings.jars_cache).expanduser()
    jit = [] if settings.tiny_tables else [JIT_OPTION]
    conf = {
        "spark.master": settings.master,
        "spark.app.name": settings.app_name,
        "spark.jars.packages": ",".join(stack.packages()),
        "spark.jars.excludes": ",".join(stack.excludes()),
        "spark.jars": ",".join(str(fetch_jar(c, cache / "direct")) for c in stack.direct_jars()),
        "spark.jars.ivy": str(cache),
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.driver.memory": settings.driver_memory,
        # A 2-core machine gains nothing from the default 200 shuffle partitions, only overhead.
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        # Delta's VACUUM lists a table's files in a job of this many tasks (Spark's default,
        # 10,000): measured, a vacuum of a four-file table took 17-34 s, and 2-3 s with 4.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(
            settings.shuffle_partitions),
        # Delta replays its log with 50 partitions by default; small tables want a few.
        "spark.databricks.delta.snapshotPartitions": "2",
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        # Small local jobs spend much of their time compiling generated code; Delta's commits,
        # MERGEs and log reads repeat the same queries all run long, and Spark's cache of
        # compiled code (100 entries by default) kept evicting them: measured, the demo and the
        # test suite ran 8-16% faster with room for 2,000.
        "spark.sql.codegen.cache.maxEntries": "2000",
        # MERGE evaluates its source once (materialized inside the transaction) instead of twice.
        "spark.databricks.delta.merge.materializeSource": "all",
        # Collecting to and building from pandas/Arrow (identity's single-machine path) in columns
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Every timestamp the lake stores is UTC, whatever the machine's zone.
        "spark.sql.session.timeZone": settings.session_time_zone,
        # The parallel (throughput) collector: G1's concurrent threads compete with the work
        # for 2 cores; measured, the demo ran ~8% faster.
        # JIT-compile generated methods above 8,000 bytes of bytecode too: a wide projection (a
        # validation batch's 20 columns and ~50 rule flags) fuses into one such method, which
        # HotSpot otherwise leaves interpreted: measured, the 1M-row validation benchmark took
        # 33 s without this and 20 s with it. Not on tiny tables (``tiny_tables``): there
        # HotSpot's compiler threads took more CPU than the driver itself (measured: SCD merges
        # of a few rows ~12% faster without it).
        "spark.driver.extraJavaOptions": " ".join(
            [f"-Duser.timezone={settings.session_time_zone}", *jit, "-XX:+UseParallelGC",
             AVRO_LIMIT_OPTION]),
        "spark.executor.extraJavaOptions": " ".join(
            [f"-Duser.timezone={settings.session_time_zone}", *jit, AVRO_LIMIT_OPTION]),
    }
    if settings.tiny_tables:
        # PySpark 4 records the Python call site of every DataFrame and Column call for error
        # messages: four extra JVM round trips per call, three times the round trips of an SCD
        # merge of a few rows. Error messages keep everything else.
        conf["spark.python.sql.dataFrameDebugging.enabled"] = "false"
        # Adaptive execution runs every shuffle and broadcast as a query stage of its own: on
        # tables of a few rows it has nothing to adapt, and doubles the jobs (an SCD merge of a
        # few rows: 26-45 Spark jobs with it, 13-18 without; measured 20-25% faster without,
        # interleaved in one process).
        conf["spark.sql.adaptive.enabled"] = "false"
    conf.update(settings.conf)
    return conf


def build_local_session(settings: SparkSettings) -> SparkSession:
    """Build (or reuse) the local SparkSession with Delta, Kafka and Avro available.

    Under ``spark-submit`` the JVM already runs, so jars can no longer be added: the job must be
    submitted with ``$(lakejobs submit-args)``; this is checked and said plainly.

    Raises:
        SessionError: Delta Lake's classes are not on the classpath.
    """
    stack = current_stack()
    conf = local_session_conf(settings)
    jvm_running = "PYSPARK_GATEWAY_PORT" in os.environ
    builder = SparkSession.builder
    for key, value in conf.items():
        if jvm_running and key.startswith(("spark.jars", "spark.master", "spark.driver.")):
            continue  # fixed by spark-submit's command line
        builder = builder.config(key, value)
    # Python workers (UDFs) must run the driver's interpreter, which has lakejobs installed, not
    # whatever `python3` is first on the PATH; pyspark reads this from the environment only.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    log.info("starting local SparkSession for %s (Spark %s)", stack.name, stack.spark_minor)
    # Ivy resolves spark.jars.packages into the jar cache as the JVM starts and is not safe for
    # two processes at once (parallel test workers, two local jobs started together).
    with exclusive_lock(Path(settings.jars_cache).expanduser() / ".session-start.lock"):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if jvm_running:
        # spark-submit started the JVM without our options; local mode decodes in this JVM, and
        # Avro reads the property when it first decodes
        spark.sparkContext._jvm.java.lang.System.setProperty(
            AVRO_LIMIT_PROPERTY, str(AVRO_COLLECTION_LIMIT))
    if not has_delta(spark):
        raise SessionError(
            "Delta Lake classes are not on the Spark classpath: submit the job with "
            "$(lakejobs submit-args)"
        )
    return spark


def has_delta(spark: SparkSession) -> bool:
    """Whether Delta Lake's JVM classes can be loaded in this session."""
    from py4j.protocol import Py4JJavaError

    jvm = spark.sparkContext._jvm
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        jvm.java.lang.Class.forName("io.delta.tables.DeltaTable", False, loader)
    except Py4JJavaError:
        return False
    return True
