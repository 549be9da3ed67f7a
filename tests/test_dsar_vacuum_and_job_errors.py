"""DSAR and the job runner: a request whose ids are found nowhere, the tombstone of a retried
request, errors that a cleanup step must not hide, and VACUUM keeping the configured retention
on both stacks (Delta 4.2 ignores a VACUUM retention other than 0 hours unless told not to)."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable
from identity_support import DAY1, SALT, IdentityLake, ev, node
from pyspark.sql import SparkSession
from test_dsar_edge_cases import write, write_members
from test_identity_dsar import STAGING_EVENTS
from test_runtime import argv, failing_job, run_log

from lakejobs import runtime
from lakejobs.config import settings_from_mapping
from lakejobs.delta_io import RETENTION_CHECK, RETENTION_WINDOW_IGNORE, table_version
from lakejobs.errors import ContractError
from lakejobs.identity import dsar
from lakejobs.identity.dsar import REQUEST_SCHEMA
from lakejobs.identity.stable_ids import HISTORY_SCHEMA
from lakejobs.incremental import list_files
from lakejobs.local_rows import rows_frame
from lakejobs.maintenance import vacuum_table
from lakejobs.paths import LakePaths
from lakejobs.registry import get_job
from lakejobs.runtime import JobSpec, run_job

AUDIT_VIEW = "request_id string, user_node string, target string, rows_deleted long, status string"
HOUR = 3600


@pytest.fixture
def lake(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IdentityLake:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    return IdentityLake(spark, tmp_path, dsar_tables=[
        {"zone": "staging", "table": "events", "columns": STAGING_EVENTS},
        {"zone": "curated", "table": "never_written", "columns": {"user_id": "u"}},
    ])


def file_requests(spark: SparkSession, root: Path, rows: list[tuple]) -> None:
    rows_frame(spark, rows, REQUEST_SCHEMA).write.format("delta").mode("append").save(
        str(root / "_lakejobs" / "dsar_requests"))


def audit(spark: SparkSession, root: Path):
    return spark.read.format("delta").load(str(root / "_lakejobs" / "dsar_audit")).select(
        "request_id", "user_node", "target", "rows_deleted", "status")


def warnings_of(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == logger and r.levelno == logging.WARNING]


# 1. a request whose ids are nowhere in the lake


def test_a_user_id_found_nowhere_is_answered_not_found_with_a_warning_and_still_denied(
    spark: SparkSession, lake: IdentityLake, caplog: pytest.LogCaptureFixture
) -> None:
    lake.stage([ev(1, DAY1, user="U1", anon="A1")])
    lake.run("r1", DAY1)
    file_requests(spark, lake.root, [("req-typo", "U1x", DAY1, None)])  # a typo of U1

    with caplog.at_level(logging.WARNING, logger="lakejobs.identity.dsar"):
        lake.run("d1", DAY1, job="identity_dsar")

    typo = node("u", "U1x")
    assert_df_equality(audit(spark, lake.root), rows_frame(spark, [
        ("req-typo", typo, "identity_graph", 0, "not_found"),
        ("req-typo", typo, "staging.events", 0, "not_found"),
        ("req-typo", typo, "curated.never_written", 0, "absent"),
    ], AUDIT_VIEW), ignore_row_order=True, ignore_nullable=True)
    assert warnings_of(caplog, "lakejobs.identity.dsar") == [
        "DSAR req-typo: the user id is found nowhere (no graph node, no row of a DSAR table, "
        "never denied): answered not_found; its node is denied all the same"]
    # still completed: the id can never link, and it is forgotten
    deny = lake.table("identity_deny_list").select("node", "request_id")
    assert [tuple(r) for r in deny.collect()] == [(typo, "req-typo")]
    assert [tuple(r) for r in lake.table("dsar_requests", zone="_lakejobs").select(
        "request_id", "user_id").collect()] == [("req-typo", None)]
    assert sorted(r.event_id for r in lake.table("events").collect()) == ["e1"]


def test_a_retried_request_whose_failed_run_deleted_everything_is_not_answered_not_found(
    spark: SparkSession, lake: IdentityLake, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, user="U2")])
    lake.run("r1", DAY1)
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None)])
    append = dsar.append

    def unavailable(*args, **kwargs):
        raise OSError("audit table unavailable")

    # the first run deletes everything of theirs and stops at the audit row
    monkeypatch.setattr(dsar, "append", unavailable)
    with pytest.raises(OSError, match="audit table unavailable"):
        lake.run("d1", DAY1, job="identity_dsar")
    monkeypatch.setattr(dsar, "append", append)

    with caplog.at_level(logging.WARNING, logger="lakejobs.identity.dsar"):
        lake.run("d2", DAY1, job="identity_dsar")

    u1 = node("u", "U1")
    assert_df_equality(audit(spark, lake.root), rows_frame(spark, [
        ("req-1", u1, "identity_graph", 0, "deleted"),
        ("req-1", u1, "staging.events", 0, "deleted+vacuumed"),
        ("req-1", u1, "curated.never_written", 0, "absent"),
    ], AUDIT_VIEW), ignore_row_order=True, ignore_nullable=True)
    assert warnings_of(caplog, "lakejobs.identity.dsar") == []


def master_data_config(tmp_path: Path) -> tuple[Path, LakePaths]:
    """A lake with one dedupe source (``staging.people``, CRM records by ``rid``)."""
    mapping = {"env": "dev", "lake": {"root": str(tmp_path / "lake")}, "dedupe": {"sources": [
        {"table": "people", "record_id": "rid", "source_system": "crm",
         "columns": {"email": "email"}}]}}
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps(mapping))
    settings = settings_from_mapping(mapping, source="test", env="dev", environ={})
    return config, LakePaths(settings.lake)


def run_dsar(spark: SparkSession, config: Path, run_id: str):
    return run_job(get_job("identity_dsar"), [
        "job.py", "--JOB_NAME", "identity_dsar", "--env", "dev", "--config", str(config),
        "--JOB_RUN_ID", run_id], spark=spark).result


def test_a_canonical_id_found_nowhere_is_answered_not_found_with_a_warning(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    config, paths = master_data_config(tmp_path)
    write(rows_frame(spark, [("1", "a@x.org")], "rid string, email string"),
          paths.table("staging", "people"))
    write_members(spark, paths, [("crm:1", "cu_a")])
    file_requests(spark, tmp_path / "lake", [("req-typo", None, DAY1, "cu_b")])

    with caplog.at_level(logging.WARNING, logger="lakejobs.identity.dsar"):
        run_dsar(spark, config, "d1")

    assert_df_equality(audit(spark, tmp_path / "lake"), rows_frame(spark, [
        ("req-typo", "cu_b", "staging.people", 0, "not_found"),
        ("req-typo", "cu_b", "curated.source_identities", 0, "absent"),
        ("req-typo", "cu_b", "curated.potential_duplicates", 0, "absent"),
        ("req-typo", "cu_b", "curated.canonical_members", 0, "not_found"),
        ("req-typo", "cu_b", "curated.canonical_users", 0, "absent"),
        ("req-typo", "cu_b", "curated.canonical_profiles", 0, "absent"),
        ("req-typo", "cu_b", "curated.attribute_lineage", 0, "absent"),
    ], AUDIT_VIEW), ignore_row_order=True, ignore_nullable=True)
    assert warnings_of(caplog, "lakejobs.identity.dsar") == [
        "DSAR req-typo: the canonical id is found nowhere in master data (no member record, "
        "no canonical_id_history row): answered not_found"]


def test_a_canonical_id_whose_records_are_already_gone_is_not_answered_not_found(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    # e.g. the retry of a request whose first run deleted the records and stopped before its
    # audit: canonical_id_history (ids only) still knows the id
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    config, paths = master_data_config(tmp_path)
    write(rows_frame(spark, [("2", "b@x.org")], "rid string, email string"),
          paths.table("staging", "people"))
    write_members(spark, paths, [("crm:2", "cu_b")])
    write(rows_frame(spark, [("m1", DAY1, "created", "cu_a", None, 1)], HISTORY_SCHEMA),
          paths.table("curated", "canonical_id_history"))
    file_requests(spark, tmp_path / "lake", [("req-1", None, DAY1, "cu_a")])

    with caplog.at_level(logging.WARNING, logger="lakejobs.identity.dsar"):
        run_dsar(spark, config, "d1")

    statuses = audit(spark, tmp_path / "lake").where("target IN ('staging.people', "
                                                     "'curated.canonical_members')")
    assert sorted((r.target, r.rows_deleted, r.status) for r in statuses.collect()) == [
        ("curated.canonical_members", 0, "deleted+vacuumed"),
        ("staging.people", 0, "deleted+vacuumed")]
    assert warnings_of(caplog, "lakejobs.identity.dsar") == []


# 2. the tombstone of a retried request


def test_a_retry_writes_the_tombstone_with_the_identity_its_failed_run_took_out_of_the_graph(
    spark: SparkSession, lake: IdentityLake, monkeypatch: pytest.MonkeyPatch
) -> None:
    u1, a1 = node("u", "U1"), node("a", "A1")
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, user="U2", anon="A2")])
    lake.run("r1", DAY1)
    identity = lake.ids()[u1]
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None)])
    resolve_scope = dsar.resolve_scope

    def resolve_then_stop(*args, **kwargs):
        resolve_scope(*args, **kwargs)
        raise OSError("driver lost")

    # the first run resolves the graph again without them, then stops
    monkeypatch.setattr(dsar, "resolve_scope", resolve_then_stop)
    with pytest.raises(OSError, match="driver lost"):
        lake.run("d1", DAY1, job="identity_dsar")
    monkeypatch.setattr(dsar, "resolve_scope", resolve_scope)

    lake.run("d2", DAY1, job="identity_dsar")

    tombstones = lake.table("identity_tombstones").select("request_id", "identity_id", "nodes")
    assert [tuple(r) for r in tombstones.collect()] == [("req-1", identity, sorted([u1, a1]))]


# 3. a cleanup step that fails must not hide the error that stopped the run


def test_the_dsar_error_reaches_the_caller_when_blanking_the_raw_ids_fails_too(
    spark: SparkSession, lake: IdentityLake, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    lake.stage([ev(1, DAY1, user="U1", anon="A1")])
    lake.run("r1", DAY1)
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None)])

    def storage_unavailable(*args, **kwargs):
        raise OSError("storage unavailable")

    def requests_locked(*args, **kwargs):
        raise OSError("requests table locked")

    monkeypatch.setattr(dsar, "purge_table", storage_unavailable)
    monkeypatch.setattr(dsar, "forget_raw_ids", requests_locked)

    with caplog.at_level(logging.ERROR, logger="lakejobs.identity.dsar"), pytest.raises(
            OSError, match="^storage unavailable$"):
        lake.run("d1", DAY1, job="identity_dsar")

    [secondary] = [r for r in caplog.records if r.name == "lakejobs.identity.dsar"
                   and r.levelno == logging.ERROR]
    assert secondary.getMessage() == (
        "identity_dsar: blanking the raw ids of answered requests failed too (the run's own "
        "error follows)")
    assert str(secondary.exc_info[1]) == "requests table locked"
    failed = run_log(spark, lake.root).where("run_id = 'd1'").first()
    assert (failed.status, failed.error_message) == ("FAILED", "OSError: storage unavailable")


def test_the_jobs_error_reaches_the_caller_when_its_failed_run_log_row_cannot_be_written(
    spark: SparkSession, config_file: Path, lake_root: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    def run_log_unavailable(*args, **kwargs):
        raise OSError("run log unavailable")

    monkeypatch.setattr(runtime, "append_run", run_log_unavailable)

    with caplog.at_level(logging.ERROR, logger="lakejobs.runtime"), pytest.raises(
            ContractError, match="^orders: column 'amount' expected decimal"):
        run_job(JobSpec("failing", "test job", failing_job), argv(config_file, "run-1"),
                spark=spark)

    [secondary] = [r for r in caplog.records if r.name == "lakejobs.runtime"
                   and r.levelno == logging.ERROR]
    assert secondary.getMessage() == (
        "job nightly run run-1: writing the FAILED run-log row failed too (the run's own error "
        "follows)")
    assert str(secondary.exc_info[1]) == "run log unavailable"


def test_a_successful_run_whose_run_log_row_cannot_be_written_fails_with_that_error(
    spark: SparkSession, config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def run_log_unavailable(*args, **kwargs):
        raise OSError("run log unavailable")

    monkeypatch.setattr(runtime, "append_run", run_log_unavailable)
    counting = JobSpec("counting", "test job", lambda context: runtime.JobResult())

    with pytest.raises(OSError, match="^run log unavailable$"):
        run_job(counting, argv(config_file, "run-1"), spark=spark)


# 4. VACUUM keeps the configured retention on both stacks


def removal_aged(spark: SparkSession, path: str, version: int, hours: float) -> list[str]:
    """Make the removals of commit ``version`` of the table at ``path`` ``hours`` old: VACUUM
    keeps a removed file while its remove action's ``deletionTimestamp`` is within the
    retention. Delta's cached snapshots are dropped, so the next command reads the edited
    commit. Returns the files the commit removed."""
    then = int((time.time() - hours * HOUR) * 1000)
    commit = Path(path) / "_delta_log" / f"{version:020d}.json"
    actions = [json.loads(line) for line in commit.read_text().splitlines() if line]
    removed = [a["remove"] for a in actions if "remove" in a]
    for remove in removed:
        remove["deletionTimestamp"] = then
    commit.write_text("".join(json.dumps(a) + "\n" for a in actions))
    # the local file system's checksum of the commit file no longer matches: drop it
    commit.with_name(f".{commit.name}.crc").unlink(missing_ok=True)
    spark.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    return sorted(r["path"] for r in removed)


def written_ago(path: str, names: list[str], hours: float) -> None:
    """Set the modification time of data files: VACUUM deletes only files older than the
    retention, whatever their removal's age."""
    then = time.time() - hours * HOUR
    for name in names:
        os.utime(Path(path) / name, (then, then))


def file_names(spark: SparkSession, path: str) -> list[str]:
    return sorted(Path(f).name for f in list_files(spark, path))


def table_of_removals(spark: SparkSession, path: str, commit_ages: list[float]) -> list[str]:
    """A table of one row written again by each commit: commit ``i`` was ``commit_ages[i]``
    hours ago, wrote file ``i`` and removed file ``i - 1``. Returns the files, oldest first."""
    files: list[str] = []
    for i, hours in enumerate(commit_ages):
        rows_frame(spark, [(i,)], "id int").coalesce(1).write.format("delta").mode(
            "overwrite").save(path)
        files.append(next(f for f in file_names(spark, path) if f not in files))
        written_ago(path, files[-1:], hours)
        if i:
            removal_aged(spark, path, i, hours)
    return files


def test_a_short_retention_deletes_files_removed_before_it_and_keeps_those_removed_within_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    # the second file is older than the retention, but it was removed within it
    path = str(tmp_path / "t")
    first, second, current = table_of_removals(spark, path, [4, 3, 1])

    deleted = vacuum_table(spark, path, 2, allow_short_retention=True)

    assert (deleted, file_names(spark, path)) == (1, sorted([second, current]))


def test_a_retention_above_seven_days_keeps_the_files_written_within_it(
    spark: SparkSession, tmp_path: Path
) -> None:
    # Delta forgets a removal after the table's delta.deletedFileRetentionDuration (7 days):
    # then only the file's age counts, and the second file is within the 30 days
    path = str(tmp_path / "t")
    first, second, current = table_of_removals(spark, path, [900, 300, 200])

    deleted = vacuum_table(spark, path, 720)

    assert (deleted, file_names(spark, path)) == (1, sorted([second, current]))


def events_lake(spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                retention_hours: int) -> IdentityLake:
    """A lake whose one DSAR table is the staging events, vacuumed with a short retention."""
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    return IdentityLake(spark, tmp_path, dsar_tables=[
        {"zone": "staging", "table": "events", "columns": STAGING_EVENTS}],
        maintenance={"retention_hours": retention_hours, "allow_short_retention": True})


def test_the_dsar_vacuum_keeps_the_maintenance_retention(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = events_lake(spark, tmp_path, monkeypatch, retention_hours=2)
    events = str(lake.root / "staging" / "events")
    lake.stage([ev(1, DAY1, user="U1"), ev(2, DAY1, user="U2")])
    lake.run("r1", DAY1)
    # the staged files were written 4 h ago; a deletion (of e2) removed one 3 h ago
    staged = file_names(spark, events)
    written_ago(events, staged, 4)
    DeltaTable.forPath(spark, events).delete("event_id = 'e2'")
    [other] = removal_aged(spark, events, table_version(spark, events), 3)
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None)])

    lake.run("d1", DAY1, job="identity_dsar")

    # `other` was removed 3 h ago: vacuumed; U1's file, removed by the DSAR's own delete just
    # now, stays (readable by time travel) until the 2 h retention has passed
    assert [f for f in staged if f not in file_names(spark, events)] == [other]
    assert [r.event_id for r in lake.table("events").collect()] == []


def test_a_purged_table_is_vacuumed_by_a_later_run_once_its_retention_has_passed(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A purged table was vacuumed only in the request's own run, while the files its deletion
    removed were still within the retention: the person's rows stayed readable by time travel
    for ever (unless the maintenance job happened to list that table)."""
    lake = events_lake(spark, tmp_path, monkeypatch, retention_hours=2)
    events = str(lake.root / "staging" / "events")
    lake.stage([ev(1, DAY1, user="U1"), ev(2, DAY1, user="U2")])
    lake.run("r1", DAY1)
    written_ago(events, file_names(spark, events), 4)
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None)])
    lake.run("d1", DAY1, job="identity_dsar")
    [purge] = [r.version for r in DeltaTable.forPath(spark, events).history()
               .where("operation = 'MERGE'").collect()]
    # the daily run after the retention: the purge's removals are 3 h old
    removed = [Path(f).name for f in removal_aged(spark, events, purge, 3)]
    assert removed and set(removed) <= set(file_names(spark, events))

    lake.run("d2", DAY1, job="identity_dsar")

    assert set(removed) & set(file_names(spark, events)) == set()
    assert [r.event_id for r in lake.table("events").collect()] == ["e2"]


def test_every_dsar_run_vacuums_the_jobs_own_tables_side_by_side_and_restores_the_session(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = events_lake(spark, tmp_path, monkeypatch, retention_hours=0)
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, user="U2", anon="A2")])
    lake.run("r1", DAY1)
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None)])
    conf_before = {k: spark.conf.get(k, None) for k in (RETENTION_CHECK, RETENTION_WINDOW_IGNORE)}

    lake.run("d1", DAY1, job="identity_dsar")  # table_threads: 2 (the default)

    own = {"requests": lake.root / "_lakejobs" / "dsar_requests",
           **{t: lake.root / "staging" / t for t in dsar.GRAPH_TABLES}}
    # every file a commit of theirs added and a later one removed is gone (retention 0 h); the
    # files the tables still reference are all there
    assert {name: (data_files_on_disk(path), referenced(spark, path))
            for name, path in own.items()} == {
        name: (referenced(spark, path),) * 2 for name, path in own.items()}
    # and there were such files: the run's deletions and the blanked id rewrote each table
    assert {name: bool(ever_added(path) - referenced(spark, path)) for name, path in own.items()
            } == dict.fromkeys(own, True)
    assert {k: spark.conf.get(k, None) for k in conf_before} == conf_before


def data_files_on_disk(path: Path) -> set[str]:
    return {str(f.relative_to(path)) for f in path.rglob("*.parquet")}


def referenced(spark: SparkSession, path: Path) -> set[str]:
    return {f.split(str(path) + "/", 1)[1]
            for f in spark.read.format("delta").load(str(path)).inputFiles()}


def ever_added(path: Path) -> set[str]:
    return {json.loads(line)["add"]["path"]
            for commit in (path / "_delta_log").glob("*.json")
            for line in commit.read_text().splitlines() if '"add"' in line}
