"""The ``lakejobs`` command and the ``jobs/`` scripts, run as a user runs them (subprocesses)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakejobs.registry import get_job
from lakejobs.runtime import run_job

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def lakejobs(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 300):
    return subprocess.run(
        [str(BIN / "lakejobs"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_list_shows_jobs_and_their_arguments(tmp_path: Path) -> None:
    done = lakejobs("list", cwd=tmp_path)
    assert done.returncode == 0
    assert "sample_pipeline: landing → staging sample" in done.stdout
    assert "--JOB_NAME VALUE --env VALUE [--config VALUE] [--JOB_RUN_ID VALUE] [--client VALUE]" in done.stdout


def test_config_shows_the_resolved_environment_with_overrides(tmp_path: Path) -> None:
    done = lakejobs("config", "--env", "dev", cwd=tmp_path,
                    env={"LAKEJOBS__SPARK__SHUFFLE_PARTITIONS": "6"})
    assert done.returncode == 0, done.stderr
    assert "  shuffle_partitions: 6\n" in done.stdout
    assert "env: dev\n" in done.stdout


def test_bad_config_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "dev.yaml"
    bad.write_text("lake:\n  rooot: /x\n")
    done = lakejobs("run", "sample_pipeline", "--JOB_NAME", "x", "--env", "dev",
                    "--config", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        f"lakejobs: error: {bad}: lake.rooot: unknown key (expected one of: root, client, zones)\n"
    )
    assert "Traceback" not in done.stdout + done.stderr


def test_a_config_file_that_is_not_utf8_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "dev.yaml"
    bad.write_bytes(b"lake:\n  root: \xff\xfe\n")
    done = lakejobs("run", "sample_pipeline", "--JOB_NAME", "x", "--env", "dev",
                    "--config", str(bad), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (f"lakejobs: error: {bad}: expected UTF-8 text, found byte 0xff that "
                           "is not UTF-8 (line 2); save the file as UTF-8\n")


def test_missing_job_argument_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = lakejobs("run", "sample_pipeline", "--env", "dev", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "lakejobs: error: sample_pipeline: the following arguments are required: --JOB_NAME\n"
    )


def test_unknown_job_is_one_line(tmp_path: Path) -> None:
    done = lakejobs("run", "nope", "--JOB_NAME", "x", "--env", "dev", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("lakejobs: error: unknown job 'nope': expected one of "
                           "identity_dsar, identity_resolution, landing_to_staging, maintenance, master_data_dedupe, msk_to_landing, replay_quarantine, "
                           "sample_pipeline, staging_to_curated\n")


def test_submit_args_name_the_stack_connectors(tmp_path: Path) -> None:
    from lakejobs._compat import current_stack

    done = lakejobs("submit-args", cwd=tmp_path)
    assert done.returncode == 0
    words = shlex.split(done.stdout)
    assert words[:2] == ["--packages", ",".join(current_stack().packages())]
    assert "--driver-java-options=-XX:-DontCompileHugeMethods" in words


@pytest.mark.slow
def test_job_script_runs_through_spark_submit_and_reruns_in_process(
    tmp_path: Path, spark: SparkSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The job script under spark-submit, then the same job and arguments through
    :func:`run_job` (what ``lakejobs run`` calls), which finds nothing left to do. The rerun
    shares the suite's session: a second JVM would cost ~20 s and test nothing more."""
    from lakejobs.batch.sample_customers import seed_landing
    from lakejobs.config import LakeSettings
    from lakejobs.paths import LakePaths

    lake = tmp_path / "lake"
    seed_landing(LakePaths(LakeSettings(root=str(lake))))
    submit_args = shlex.split(lakejobs("submit-args", cwd=tmp_path).stdout)
    job_args = ["--JOB_NAME", "sample_pipeline", "--env", "dev"]
    env = {**os.environ, "LAKEJOBS__LAKE__ROOT": str(lake)}
    submitted = subprocess.run(
        [str(BIN / "spark-submit"), "--master", "local[2]", *submit_args,
         str(REPO / "jobs" / "sample_pipeline.py"), *job_args],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    assert submitted.returncode == 0, submitted.stderr[-3000:]
    assert "12 rows read, 7 written, 5 quarantined" in submitted.stdout
    monkeypatch.setenv("LAKEJOBS__LAKE__ROOT", str(lake))
    monkeypatch.chdir(tmp_path)
    rerun = run_job(get_job("sample_pipeline"), ["lakejobs run sample_pipeline", *job_args],
                    spark=spark).result
    assert (rerun.rows_read, rerun.rows_written, rerun.rows_quarantined) == (0, 0, 0)


@pytest.mark.slow
def test_spark_submit_without_packages_says_how_to_fix_it(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "spark-submit"), "--master", "local[1]", str(REPO / "jobs" / "sample_pipeline.py"),
         "--JOB_NAME", "x", "--env", "dev"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    assert (
        "lakejobs: error: Delta Lake classes are not on the Spark classpath: submit the job "
        "with $(lakejobs submit-args)"
    ) in done.stdout.splitlines()  # spark-submit merges the Python process's stderr into stdout


def test_wheel_ships_config_and_samples_and_loads_them(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path / "dist")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stderr
    wheel = next((tmp_path / "dist").glob("lakejobs-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"lakejobs/_data/conf/dev.yaml", "lakejobs/_data/conf/prod.yaml",
            "lakejobs/_data/samples/customers/customers-2026-11-01.jsonl",
            "lakejobs/runtime.py", "lakejobs/py.typed"} <= names
    assert not any(n.startswith(("tests/", "jobs/")) for n in names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure-Python wheel installs by unpacking
    probe = subprocess.run(
        [sys.executable, "-c",
         "import lakejobs.resources as r, lakejobs.config as c; "
         "print(r.bundled_path('conf')); print(c.load_settings('prod', environ={}).lake.root)"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == [f"{site}/lakejobs/_data/conf", "s3://retail-datalake-prod"]
