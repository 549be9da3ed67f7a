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
    """One AWS Glue runtime: the Spark, Scala and Delta Lake versions it ships together."""

    name: str
    glue_version: str
    spark_minor: str
    scala: str
    delta: str

    @property
    def delta_artifact(self) -> str:
        # From Delta 4.1 on, artifacts carry the Spark minor version (delta-spark_4.1_2.13);
        # Delta 3.x artifacts carry only the Scala version (delta-spark_2.12).
        if int(self.delta.split(".")[0]) >= 4:
            return f"delta-spark_{self.spark_minor}_{self.scala}"
        return f"delta-spark_{self.scala}"


STACKS: dict[str, Stack] = {
    "glue6": Stack(name="glue6", glue_version="6.0", spark_minor="4.1", scala="2.13", delta="4.2.0"),
    "glue5": Stack(name="glue5", glue_version="5.1", spark_minor="3.5", scala="2.12", delta="3.3.2"),
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


def connector_packages(pyspark_version: str | None = None) -> list[str]:
    """Maven coordinates of the connector jars (Delta, Kafka, Avro) for the installed pyspark.

    Spark's own connectors must match pyspark to the patch version; Delta follows the installed
    delta-spark distribution when there is one, else the stack's pinned version.
    """
    version = pyspark_version or installed_pyspark_version()
    stack = current_stack(version)
    try:
        delta_version = metadata.version("delta-spark")
    except metadata.PackageNotFoundError:
        delta_version = stack.delta
    delta_stack = Stack(stack.name, stack.glue_version, stack.spark_minor, stack.scala, delta_version)
    return [
        f"io.delta:{delta_stack.delta_artifact}:{delta_version}",
        f"org.apache.spark:spark-sql-kafka-0-10_{stack.scala}:{version}",
        f"org.apache.spark:spark-avro_{stack.scala}:{version}",
    ]
