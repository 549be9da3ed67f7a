"""The only module that imports ``awsglue``; it is small on purpose.

There is no awsglue package on the public index, so this code runs on AWS Glue only; tests inject
a stand-in module. Everything else in lakejobs is plain PySpark.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession


def on_glue() -> bool:
    """Whether this interpreter runs inside an AWS Glue job (awsglue is importable)."""
    return importlib.util.find_spec("awsglue") is not None


@dataclass
class GlueJob:
    """A started Glue job: Glue's SparkSession, its resolved arguments and the job to commit."""

    spark: SparkSession
    args: dict[str, str]
    job: Any

    def commit(self) -> None:
        """Commit the Glue job (Glue's own bookmarks and run state)."""
        self.job.commit()


def start_glue_job(argv: Sequence[str], names: Sequence[str]) -> GlueJob:
    """Resolve arguments with Glue, take Glue's session and ``Job.init`` the job."""
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    args = getResolvedOptions(list(argv), list(names))
    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], args)
    return GlueJob(spark=glue_context.spark_session, args=args, job=job)
