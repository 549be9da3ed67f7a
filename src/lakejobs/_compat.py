"""Everything that differs between the two Glue stacks lives here, and only here.

Glue 6.0 runs Spark 4.1 / Delta Lake 4.2 / Scala 2.13 (the development default); Glue 5.1 runs
Spark 3.5.6 / Delta Lake 3.3.2 / Scala 2.12. The stack is read from the installed pyspark, so a
job never needs to be told which one it is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata

from lakejobs.errors import StackError


@dataclass(frozen=True)
class Stack:
    """One AWS Glue runtime: the Spark, Scala and Delta Lake versions it ships together.

    ``connectors`` is the version of Spark's own connector artifacts (Kafka, Avro). It is the
    installed Spark version where Maven Central has the full artifact set; Spark connectors are
    binary compatible across patch releases, which lets a stack pin the nearest complete set.
    ``replacements`` swaps a transitive artifact for another version of it where Maven Central
    lacks the one the connector's POM names: the artifact is excluded from Ivy's resolution
    (``spark.jars.excludes``, which also drops an explicit coordinate of it) and the replacement
    jar is fetched on its own and added with ``spark.jars`` (see ``lakejobs.jars``).
    """

    name: str
    glue_version: str
    spark_minor: str
    scala: str
    delta: str
    connectors: str
    replacements: tuple[tuple[str, str], ...] = ()

    @property
    def observes_through_cache(self) -> bool:
        """Whether ``DataFrame.observe`` metrics are reported when the observed plan is computed
        to fill a cache. Spark 4 reports them; on Spark 3.5 ``Observation.get`` can wait forever
        (seen on the second cached observation in one session), so the engine measures with a
        plain aggregation there."""
        return int(self.spark_minor.split(".")[0]) >= 4

    @property
    def merge_returns_counts(self) -> bool:
        """Whether a Delta MERGE returns its row counts (Delta 4); Delta 3's returns nothing and
        the counts are read from the commit's operation metrics."""
        return int(self.delta.split(".")[0]) >= 4

    @property
    def dataset_class(self) -> str:
        """The JVM class whose ``ofRows(session, plan)`` makes a frame of a session from a
        logical plan (Spark 4 moved the classic Dataset to the ``classic`` package)."""
        if int(self.spark_minor.split(".")[0]) >= 4:
            return "org.apache.spark.sql.classic.Dataset"
        return "org.apache.spark.sql.Dataset"

    @property
    def delta_artifact(self) -> str:
        # From Delta 4.1 on, artifacts carry the Spark minor version (delta-spark_4.1_2.13);
        # Delta 3.x artifacts carry only the Scala version (delta-spark_2.12).
        if int(self.delta.split(".")[0]) >= 4:
            return f"delta-spark_{self.spark_minor}_{self.scala}"
        return f"delta-spark_{self.scala}"

    def packages(self) -> list[str]:
        """Maven coordinates for ``spark.jars.packages``: Delta, Kafka, Avro."""
        return [
            f"io.delta:{self.delta_artifact}:{self.delta}",
            f"org.apache.spark:spark-sql-kafka-0-10_{self.scala}:{self.connectors}",
            f"org.apache.spark:spark-avro_{self.scala}:{self.connectors}",
        ]

    def direct_jars(self) -> list[str]:
        """Coordinates fetched without dependencies and added with ``spark.jars``."""
        return [f"{artifact}:{version}" for artifact, version in self.replacements]

    def excludes(self) -> list[str]:
        """``groupId:artifactId`` entries for ``spark.jars.excludes``."""
        return [artifact for artifact, _ in self.replacements]


STACKS: dict[str, Stack] = {
    # Maven Central has spark-sql-kafka 4.1.1 but no spark-token-provider-kafka 4.1.x, which its
    # POM names; the 4.0.0 token provider (delegation-token helpers only) stands in for it.
    "glue6": Stack(
        name="glue6", glue_version="6.0", spark_minor="4.1", scala="2.13", delta="4.2.0",
        connectors="4.1.1",
        replacements=(("org.apache.spark:spark-token-provider-kafka-0-10_2.13", "4.0.0"),),
    ),
    # Maven Central has no spark-sql-kafka / spark-avro 3.5.6 for Scala 2.12; 3.5.7 is the
    # nearest complete set and runs on Spark 3.5.6 (same minor, patch-compatible).
    "glue5": Stack(
        name="glue5", glue_version="5.1", spark_minor="3.5", scala="2.12", delta="3.3.2",
        connectors="3.5.7",
    ),
}


def installed_pyspark_version() -> str:
    """Version of the pyspark distribution in this interpreter."""
    try:
        return metadata.version("pyspark")
    except metadata.PackageNotFoundError as e:
        raise StackError(
            "pyspark is not installed: install lakejobs with the 'glue6' or 'glue5' extra"
        ) from e


def current_stack(pyspark_version: str | None = None) -> Stack:
    """The Glue stack matching the installed (or given) pyspark version.

    Raises:
        StackError: pyspark belongs to no supported stack.
    """
    version = pyspark_version or installed_pyspark_version()
    minor = ".".join(version.split(".")[:2])
    for stack in STACKS.values():
        if stack.spark_minor == minor:
            return stack
    supported = ", ".join(f"{s.name}=Spark {s.spark_minor}" for s in STACKS.values())
    raise StackError(f"pyspark {version} matches no supported Glue stack (expected {supported})")


DELTA_CONFLICT_NAMES = (
    "DeltaConcurrentModificationException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
)


def is_delta_conflict(error: BaseException) -> bool:
    """Whether ``error`` is one of Delta's optimistic-concurrency conflicts (worth a retry).

    Delta's Python classes differ between 3.x (no shared base) and 4.x, and an error raised in a
    thread other than the one that imported ``delta`` may arrive as a plain ``Py4JJavaError``;
    so the check goes by class name, on the Python class or on the Java exception.
    """
    if {base.__name__ for base in type(error).__mro__}.intersection(DELTA_CONFLICT_NAMES):
        return True
    java = getattr(error, "java_exception", None)
    if java is None:
        return False
    java_class = java.getClass().getName()
    return java_class.rsplit(".", 1)[-1] in DELTA_CONFLICT_NAMES and ".delta." in java_class
