"""Glue job definitions: every job has one, its arguments match the job's, both stacks render."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakejobs.cli import main
from lakejobs.deploy import job_parameters, load_glue_jobs, render_glue_job
from lakejobs.errors import ConfigError
from lakejobs.registry import all_jobs


def test_every_job_has_a_definition_and_every_definition_a_job() -> None:
    assert set(load_glue_jobs().jobs) == set(all_jobs())


@pytest.mark.parametrize("job", sorted(all_jobs()))
def test_definition_arguments_match_the_job(job: str) -> None:
    spec, definition = all_jobs()[job], load_glue_jobs().jobs[job]
    given, optional = job_parameters(definition)
    required = set(spec.required_arguments) - {"JOB_NAME"}  # Glue passes --JOB_NAME itself
    assert required <= given, f"{job}: definition lacks {sorted(required - given)}"
    known = set(spec.required_arguments) | set(spec.optional_arguments)
    assert (given | optional) <= known, f"{job}: unknown arguments {sorted((given | optional) - known)}"


@pytest.mark.parametrize(("stack", "glue_version"), [("glue6", "6.0"), ("glue5", "5.1")])
def test_a_definition_renders_for_each_stack(stack: str, glue_version: str) -> None:
    job = render_glue_job(load_glue_jobs(), "staging_to_curated", stack=stack,
                          artifacts="s3://artifacts/lakejobs/1.2.3/", role="glue-role",
                          version="1.2.3")
    assert job["Name"] == f"lakejobs-staging-to-curated-{stack}"
    assert job["GlueVersion"] == glue_version
    assert job["Command"] == {"Name": "glueetl", "PythonVersion": "3",
                              "ScriptLocation": "s3://artifacts/lakejobs/1.2.3/jobs/staging_to_curated.py"}
    arguments = job["DefaultArguments"]
    assert arguments["--additional-python-modules"] == (
        "s3://artifacts/lakejobs/1.2.3/lakejobs-1.2.3-py3-none-any.whl")
    assert arguments["--datalake-formats"] == "delta"
    assert "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog" in (
        arguments["--conf"])
    assert arguments["--env"] == "prod"
    assert (job["WorkerType"], job["NumberOfWorkers"], job["Timeout"]) == ("G.2X", 4, 120)


AVRO_BOUND = "-Dorg.apache.avro.limits.collectionItems.maxLength=10000000"
DELTA = ["spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
         "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
         "spark.databricks.delta.merge.materializeSource=all"]


@pytest.mark.parametrize("job", sorted(all_jobs()))
def test_every_job_bounds_avro_collections_on_driver_and_executors(job: str) -> None:
    rendered = render_glue_job(load_glue_jobs(), job, stack="glue5", artifacts="s3://a/l/1",
                               role="r", version="1")
    assert rendered["DefaultArguments"]["--conf"].split(" --conf ") == [
        *DELTA, f"spark.driver.extraJavaOptions={AVRO_BOUND}",
        f"spark.executor.extraJavaOptions={AVRO_BOUND}"]


def test_a_definition_conf_is_kept_and_its_jvm_options_get_the_avro_bound(
        tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text(
        "defaults:\n  arguments: {--conf: spark.sql.shuffle.partitions=64}\n"
        "jobs:\n  x:\n    description: d\n    arguments:\n      --conf: "
        "spark.executor.extraJavaOptions=-XX:+UseG1GC --conf spark.sql.ansi.enabled=true\n")
    rendered = render_glue_job(load_glue_jobs(str(path)), "x", stack="glue6",
                               artifacts="s3://a/l/1", role="r", version="1")
    assert rendered["DefaultArguments"]["--conf"].split(" --conf ") == [
        *DELTA, "spark.sql.shuffle.partitions=64", "spark.sql.ansi.enabled=true",
        f"spark.driver.extraJavaOptions={AVRO_BOUND}",
        f"spark.executor.extraJavaOptions=-XX:+UseG1GC {AVRO_BOUND}"]

def test_a_typo_in_a_definition_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "jobs.yaml"
    path.write_text("jobs:\n  x: {description: d, workers: 3}\n")
    with pytest.raises(ConfigError, match=r"jobs.yaml: jobs.x.workers: unknown key"):
        load_glue_jobs(str(path))


def test_cli_refuses_an_unknown_job_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["glue-job", "nope", "--artifacts", "s3://a/b", "--role", "r"])
    assert code == 2
    assert capsys.readouterr().err == (
        "lakejobs: error: conf/glue/jobs.yaml: jobs: no job 'nope': expected one of "
        "identity_dsar, identity_resolution, landing_to_staging, maintenance, master_data_dedupe, msk_to_landing, replay_quarantine, sample_pipeline, "
        "staging_to_curated\n")
