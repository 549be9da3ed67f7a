"""Running a job: arguments, config, session, bookmarks, run log and (on Glue) the job commit.

Every job, whether started by ``spark-submit jobs/<job>.py``, by ``lakejobs run`` or by AWS Glue,
goes through :func:`run_job`, so the argument names, the errors and the bookkeeping are the same.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from lakejobs._compat import current_stack
from lakejobs.arguments import COMMON_OPTIONAL, COMMON_REQUIRED, resolve_options
from lakejobs.bookmarks import BookmarkStore, JobBookmarks
from lakejobs.config import Settings, load_settings
from lakejobs.errors import ConservationError, LakejobsError
from lakejobs.glue import GlueJob, on_glue, start_glue_job
from lakejobs.paths import LakePaths
from lakejobs.run_log import FAILED, SUCCEEDED, RunRecord, append_run

log = logging.getLogger(__name__)

# What a bookkeeping step (a Delta read or write, a file listing) raises when Spark or storage
# fails. Caught only while a job's own error is on its way to the caller: logged, so that it
# does not replace that error.
STEP_ERRORS = (LakejobsError, PySparkException, Py4JError, OSError)


@dataclass(frozen=True)
class JobResult:
    """What a job did, for the run log. ``summary`` holds job-specific figures."""

    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    summary: Mapping[str, Any] = field(default_factory=dict)

    def check_conservation(self, job: str) -> None:
        """Raise unless rows read = rows written + rows quarantined."""
        if self.rows_read != self.rows_written + self.rows_quarantined:
            raise ConservationError(
                f"{job}: {self.rows_read} rows read but {self.rows_written} written + "
                f"{self.rows_quarantined} quarantined"
            )


@dataclass(frozen=True)
class JobContext:
    """Everything a job function receives: session, settings, arguments, paths, bookmarks."""

    spark: SparkSession
    settings: Settings
    args: Mapping[str, str]
    run_id: str
    paths: LakePaths
    bookmarks: JobBookmarks


@dataclass(frozen=True)
class JobSpec:
    """A runnable job: its name, the library function it calls and the arguments it takes."""

    name: str
    summary: str
    run: Callable[[JobContext], JobResult]
    required: tuple[str, ...] = ()
    optional: Mapping[str, str] = field(default_factory=dict)
    conserves_rows: bool = True

    @property
    def required_arguments(self) -> tuple[str, ...]:
        return COMMON_REQUIRED + self.required

    @property
    def optional_arguments(self) -> dict[str, str]:
        return {**COMMON_OPTIONAL, **self.optional}


@dataclass(frozen=True)
class JobOutcome:
    """A finished run: its id and result."""

    run_id: str
    result: JobResult


def run_job(spec: JobSpec, argv: Sequence[str], *, spark: SparkSession | None = None) -> JobOutcome:
    """Run one job end to end.

    Args:
        spec: the job.
        argv: the full command line, program name first.
        spark: a session to use instead of building one (tests); ignored on Glue.

    Raises:
        LakejobsError: bad arguments or config, or the job failed; the run log has a FAILED row
            when the failure happened after the session was up.
    """
    args = resolve_options(argv, spec.required_arguments, spec.optional_arguments, job=spec.name)
    overrides = {"--client": (["lake", "client"], args["client"])} if "client" in args else None
    settings = load_settings(args["env"], args.get("config"), overrides=overrides)
    glue_job: GlueJob | None = None
    if on_glue():
        glue_job = start_glue_job(argv, spec.required_arguments)
        spark = glue_job.spark
        # Glue's session reads and writes timestamps in its JVM's zone; the lake's are UTC (as
        # local sessions are built), for dates, date keys and day partitions alike
        spark.conf.set("spark.sql.session.timeZone", settings.spark.session_time_zone)
    elif spark is None:
        from lakejobs.session import build_local_session

        spark = build_local_session(settings.spark)
    run_id = args.get("JOB_RUN_ID") or _new_run_id()
    paths = LakePaths(settings.lake)
    store = BookmarkStore(spark, paths.table("system", settings.tables.bookmarks))
    job_name = args["JOB_NAME"]
    started = datetime.now(UTC)
    result, status = JobResult(), FAILED
    log.info("job %s run %s started (env %s)", job_name, run_id, settings.env)
    try:
        # inside the try: a run whose bookmarks cannot be read failed, and the run log says so
        context = JobContext(spark, settings, args, run_id, paths, store.load(job_name, run_id))
        result = spec.run(context)
        if spec.conserves_rows:
            result.check_conservation(job_name)
        store.commit(context.bookmarks, run_id)
        status = SUCCEEDED
    finally:
        error = sys.exc_info()[1]
        record = RunRecord(
            job_name=job_name,
            run_id=run_id,
            env=settings.env,
            client=settings.lake.client,
            stack=current_stack().name,
            started_at=started,
            completed_at=datetime.now(UTC),
            status=status,
            rows_read=result.rows_read,
            rows_written=result.rows_written,
            rows_quarantined=result.rows_quarantined,
            error_message=None if error is None else f"{type(error).__name__}: {error}"[:4000],
            summary=_summary_json(result, error),
        )
        # a run whose success cannot be logged fails
        cleanup_step(partial(append_run, spark, paths.table("system", settings.tables.run_log),
                             record), failing=error is not None,
                     what=f"job {job_name} run {run_id}: writing the FAILED run-log row")
    if glue_job is not None:
        glue_job.commit()
    log.info("job %s run %s %s", job_name, run_id, status)
    return JobOutcome(run_id=run_id, result=result)


def cleanup_step(step: Callable[[], None], *, failing: bool, what: str,
                 logger: logging.Logger = log) -> None:
    """Run a bookkeeping ``step`` of a job. While the job's own error is on its way to the
    caller (``failing``), a failure of the step (:data:`STEP_ERRORS`) is logged (to the
    caller's ``logger``) instead of raised, so that it does not replace that error; otherwise it
    is raised."""
    if not failing:
        step()
        return
    try:
        step()
    except STEP_ERRORS:
        logger.exception("%s failed too (the run's own error follows)", what)


def _summary_json(result: JobResult, error: BaseException | None) -> str | None:
    # a failed run may still say what it found (e.g. which data-quality rule stopped it)
    summary = getattr(error, "summary", None) or result.summary
    return json.dumps(dict(summary), default=str, sort_keys=True) if summary else None


def _new_run_id() -> str:
    return f"local_{datetime.now(UTC):%Y%m%dT%H%M%S}_{uuid.uuid4().hex[:8]}"
