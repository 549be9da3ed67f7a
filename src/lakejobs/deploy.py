"""AWS Glue job definitions (``conf/glue/jobs.yaml``) rendered for either runtime stack.

A rendered definition is the request body of Glue's ``CreateJob`` API, so it can be applied with
``aws glue create-job --cli-input-json`` or fed to infrastructure code. What differs between the
stacks (Glue version) comes from :mod:`lakejobs._compat`; what every job needs (the lakejobs
wheel, Delta enabled, the catalog, the bound on Avro collections) is added here, so a definition
only states what is special about its job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lakejobs._compat import STACKS
from lakejobs.avro_limits import AVRO_LIMIT_OPTION, AVRO_LIMIT_PROPERTY
from lakejobs.config.documents import load_document
from lakejobs.errors import ConfigError
from lakejobs.resources import bundled_path

ARGUMENT = r"^--[A-Za-z][A-Za-z0-9_-]*$"
Argument = Annotated[str, Field(pattern=ARGUMENT)]
DELTA_SETTINGS = (
    "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # MERGE builds its source once (the SCD merges' source is a rebuild of touched keys)
    "spark.databricks.delta.merge.materializeSource=all",
)
# Glue takes several Spark settings in one --conf value, joined by " --conf ".
CONF_SEPARATOR = " --conf "
# Both JVMs carry the bound on Avro collections, as on local sessions (lakejobs.avro_limits).
JAVA_OPTIONS = ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
# Arguments Glue itself understands (not passed on to the job's own parsing).
GLUE_ARGUMENTS = frozenset({
    "--additional-python-modules", "--conf", "--datalake-formats", "--enable-glue-datacatalog",
    "--enable-metrics", "--enable-continuous-cloudwatch-log", "--job-bookmark-option",
    "--TempDir", "--extra-py-files", "--enable-spark-ui", "--spark-event-logs-path",
})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Model):
    worker_type: str = "G.1X"
    number_of_workers: int = Field(2, ge=2)
    timeout_minutes: int = Field(60, ge=1)
    max_retries: int = Field(0, ge=0)
    arguments: dict[Argument, str] = Field(default_factory=dict)


class GlueJob(_Model):
    """One job's definition: what differs from the defaults."""

    description: str
    command: Literal["glueetl", "gluestreaming"] = Field(
        "glueetl", description="gluestreaming for Structured Streaming jobs (run until stopped)")
    worker_type: str | None = None
    number_of_workers: int | None = Field(None, ge=2)
    timeout_minutes: int | None = Field(None, ge=1)
    max_retries: int | None = Field(None, ge=0)
    arguments: dict[Argument, str] = Field(default_factory=dict,
                                           description="job parameters with default values")
    required: tuple[Argument, ...] = Field((), description="parameters every run must pass")
    optional: tuple[Argument, ...] = Field((), description="parameters a run may add")


class GlueJobs(_Model):
    defaults: Defaults = Defaults()
    jobs: dict[str, GlueJob]


def load_glue_jobs(location: str | None = None) -> GlueJobs:
    """The job definitions (the bundled ``conf/glue/jobs.yaml`` by default)."""
    return load_document(location or str(bundled_path("conf", "glue", "jobs.yaml")), GlueJobs)


def render_glue_job(
    definitions: GlueJobs, job: str, *, stack: str, artifacts: str, role: str, version: str
) -> dict[str, Any]:
    """The ``CreateJob`` request of ``job`` on ``stack``.

    Args:
        artifacts: S3 prefix holding ``jobs/<job>.py`` and the lakejobs wheel.
        role: IAM role ARN (or name) the job runs as.
        version: lakejobs version (names the wheel).

    Raises:
        ConfigError: unknown job or stack, or an artifacts location that is not ``s3://``.
    """
    if job not in definitions.jobs:
        raise ConfigError(f"conf/glue/jobs.yaml: jobs: no job {job!r}: expected one of "
                          f"{', '.join(sorted(definitions.jobs))}")
    if stack not in STACKS:
        raise ConfigError(f"--stack {stack}: expected one of {', '.join(STACKS)}")
    if not artifacts.startswith("s3://"):
        raise ConfigError(f"--artifacts {artifacts}: expected an s3:// prefix")
    d, spec = definitions.defaults, definitions.jobs[job]
    prefix = artifacts.rstrip("/")
    arguments = {
        **d.arguments,
        "--additional-python-modules": f"{prefix}/lakejobs-{version}-py3-none-any.whl",
        **spec.arguments,
        "--conf": glue_conf(d.arguments.get("--conf", ""), spec.arguments.get("--conf", "")),
    }
    return {
        "Name": f"lakejobs-{job.replace('_', '-')}-{stack}",
        "Description": spec.description,
        "Role": role,
        "GlueVersion": STACKS[stack].glue_version,
        "Command": {"Name": spec.command, "ScriptLocation": f"{prefix}/jobs/{job}.py",
                    "PythonVersion": "3"},
        "DefaultArguments": arguments,
        "WorkerType": spec.worker_type or d.worker_type,
        "NumberOfWorkers": spec.number_of_workers or d.number_of_workers,
        "Timeout": spec.timeout_minutes or d.timeout_minutes,
        "MaxRetries": d.max_retries if spec.max_retries is None else spec.max_retries,
        "ExecutionProperty": {"MaxConcurrentRuns": 1},
    }


def glue_conf(*given: str) -> str:
    """The ``--conf`` value of a job: Delta's settings, then the settings ``given`` (``--conf``
    values of the defaults and of the job), and the Avro collection bound in the driver's and
    executors' JVM options. A given JVM option setting keeps its options, the bound added to
    them unless they already set it.

    Args:
        given: ``--conf`` values, each one or more settings joined by ``" --conf "``.
    """
    settings = list(DELTA_SETTINGS)
    java_options = dict.fromkeys(JAVA_OPTIONS, "")
    for setting in (s.strip() for value in given for s in value.split(CONF_SEPARATOR)):
        key, _, options = setting.partition("=")
        if key.strip() in java_options:
            java_options[key.strip()] = options.strip()
        elif setting:
            settings.append(setting)
    for key, options in java_options.items():
        if AVRO_LIMIT_PROPERTY not in options:
            options = f"{options} {AVRO_LIMIT_OPTION}".strip()
        settings.append(f"{key}={options}")
    return CONF_SEPARATOR.join(settings)


def job_parameters(definition: GlueJob) -> tuple[set[str], set[str]]:
    """(parameters every run gets: defaults and required ones, optional parameters) of a
    definition, without ``--``, leaving out the arguments Glue itself consumes."""
    given = {a.removeprefix("--") for a in [*definition.arguments, *definition.required]
             if a not in GLUE_ARGUMENTS}
    optional = {a.removeprefix("--") for a in definition.optional}
    return given, optional


def glue_jobs_markdown(definitions: GlueJobs) -> str:
    """The job definitions as a Markdown page (``docs/glue-jobs.md``)."""
    from lakejobs.registry import all_jobs

    d = definitions.defaults
    lines = [
        "# AWS Glue job definitions",
        "",
        "Generated from `conf/glue/jobs.yaml` by `lakejobs glue-docs`; do not edit by hand.",
        "Every job runs `jobs/<job>.py` with the lakejobs wheel "
        "(`--additional-python-modules`), Delta enabled (`--datalake-formats delta` and the Delta "
        "`--conf`), the Glue Data Catalog as metastore, and Glue's bookmarks off (lakejobs keeps "
        "its own). Glue version: "
        + ", ".join(f"{s.glue_version} ({s.name}, Spark {s.spark_minor})" for s in STACKS.values())
        + ".",
        "",
        "Arguments every job gets: "
        + ", ".join(f"`{k} {v}`" for k, v in d.arguments.items()) + ".",
        "",
        "| job | what it does | workers | timeout | parameters (default) | required per run "
        "| optional |",
        "|---|---|---|---|---|---|---|",
    ]
    jobs = all_jobs()
    for name, job in sorted(definitions.jobs.items()):
        workers = f"{job.number_of_workers or d.number_of_workers} × {job.worker_type or d.worker_type}"
        params = ", ".join(f"`{k} {v}`" for k, v in job.arguments.items()) or "—"
        optional = ", ".join(f"`{o}`" for o in job.optional) or "—"
        required = ", ".join(f"`{r}`" for r in job.required) or "—"
        summary = jobs[name].summary if name in jobs else job.description
        lines.append(f"| `{name}` | {summary} | {workers} | "
                     f"{job.timeout_minutes or d.timeout_minutes} min | {params} | {required} | "
                     f"{optional} |")
    lines += ["", "`--JOB_NAME` is passed by Glue itself; `--JOB_RUN_ID` too.", ""]
    return "\n".join(lines)
