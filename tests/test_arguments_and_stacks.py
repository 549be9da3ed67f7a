"""Glue-style argument resolution and the stack table."""

from __future__ import annotations

import os

import pytest

from lakejobs._compat import STACKS, current_stack
from lakejobs.arguments import resolve_options
from lakejobs.errors import JobArgumentError, StackError


def test_required_and_optional_arguments_resolve() -> None:
    args = resolve_options(
        ["job.py", "--JOB_NAME", "nightly", "--env", "qa", "--config", "s3://b/qa.yaml"],
        ["JOB_NAME", "env"], {"config": "config file"},
    )
    assert args == {"JOB_NAME": "nightly", "env": "qa", "config": "s3://b/qa.yaml"}


def test_arguments_glue_adds_are_ignored() -> None:
    argv = ["job.py", "--JOB_NAME", "n", "--TempDir", "s3://tmp", "--job-bookmark-option",
            "job-bookmark-disable", "--env", "dev"]
    assert resolve_options(argv, ["JOB_NAME", "env"]) == {"JOB_NAME": "n", "env": "dev"}


def test_missing_argument_is_named() -> None:
    with pytest.raises(JobArgumentError) as err:
        resolve_options(["job.py", "--JOB_NAME", "n"], ["JOB_NAME", "env"], job="sample_pipeline")
    assert str(err.value) == "sample_pipeline: the following arguments are required: --env"


def test_empty_argument_value_is_rejected() -> None:
    with pytest.raises(JobArgumentError, match="argument --env: expected a non-empty value"):
        resolve_options(["job.py", "--JOB_NAME", "n", "--env", " "], ["JOB_NAME", "env"])


@pytest.mark.parametrize(
    ("version", "stack"), [("4.1.1", "glue6"), ("4.1.0", "glue6"), ("3.5.6", "glue5")]
)
def test_pyspark_version_selects_the_glue_stack(version: str, stack: str) -> None:
    assert current_stack(version).name == stack


def test_unsupported_pyspark_is_a_stack_error() -> None:
    with pytest.raises(StackError, match="pyspark 3.4.1 matches no supported Glue stack"):
        current_stack("3.4.1")


def test_glue6_connector_coordinates() -> None:
    assert STACKS["glue6"].packages() == [
        "io.delta:delta-spark_4.1_2.13:4.2.0",
        "org.apache.spark:spark-sql-kafka-0-10_2.13:4.1.1",
        "org.apache.spark:spark-avro_2.13:4.1.1",
    ]
    assert STACKS["glue6"].direct_jars() == [
        "org.apache.spark:spark-token-provider-kafka-0-10_2.13:4.0.0"
    ]
    assert STACKS["glue6"].excludes() == ["org.apache.spark:spark-token-provider-kafka-0-10_2.13"]


def test_glue5_connector_coordinates() -> None:
    assert STACKS["glue5"].packages() == [
        "io.delta:delta-spark_2.12:3.3.2",
        "org.apache.spark:spark-sql-kafka-0-10_2.12:3.5.7",
        "org.apache.spark:spark-avro_2.12:3.5.7",
    ]
    assert STACKS["glue5"].direct_jars() == []


@pytest.mark.skipif("LAKEJOBS_STACK" not in os.environ, reason="run outside a stack environment")
def test_suite_runs_on_the_stack_it_was_asked_for(spark) -> None:
    stack = STACKS[os.environ["LAKEJOBS_STACK"]]
    assert current_stack().name == stack.name
    assert spark.version.startswith(stack.spark_minor + ".")


def test_only_delta_4_merges_return_their_counts() -> None:
    assert (STACKS["glue6"].merge_returns_counts, STACKS["glue5"].merge_returns_counts) == (
        True, False)
