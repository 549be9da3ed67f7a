"""Master-data sources are told apart by their source system; the DSAR job's run-log summary
counts the requests it answered ``not_found``."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from identity_support import DAY1, SALT, IdentityLake, ev
from pyspark.sql import DataFrame, SparkSession
from test_dedupe_job import CUSTOMER_SOURCE, PeopleLake
from test_dsar_edge_cases import write, write_members
from test_dsar_vacuum_and_job_errors import file_requests, master_data_config, run_dsar

from lakejobs import cli
from lakejobs.config import DedupeSource, settings_from_mapping
from lakejobs.errors import ConfigError
from lakejobs.identity.source_identities import nickname_frame, read_source, with_match_keys
from lakejobs.local_rows import rows_frame
from lakejobs.registry import get_job
from lakejobs.runtime import run_job

CONTACT = "id string, full_name string, email string, updated_at timestamp"
PERSON = "id string, system string, full_name string, email string, updated_at timestamp"

CRM_COLUMNS = {"full_name": "full_name", "email": "email"}
CRM_SOURCES = [
    {"table": "crm_contacts", "record_id": "id", "source_system": "crm", "columns": CRM_COLUMNS},
    {"table": "crm_leads", "record_id": "id", "source_system": "crm", "columns": CRM_COLUMNS}]
EXPECTED_ONE_SYSTEM_PER_SOURCE = (
    "dedupe: sources.1.source_system: 'crm' is already the source_system of sources.0 "
    "(staging.crm_contacts): expected a source_system no other source names, or a "
    "system_column whose values no other source uses (a record is keyed by source system and "
    "record id: records of both tables with one id would be taken for one record, and one of "
    "them dropped)")


def crm_config(tmp_path: Path) -> Path:
    """A config whose two CRM tables (contacts, leads) both name the source system ``crm``."""
    config = tmp_path / "dev.yaml"
    config.write_text(json.dumps({"env": "dev", "lake": {"root": str(tmp_path / "lake")},
                                  "dedupe": {"sources": CRM_SOURCES}}))
    return config


# 1. master-data sources and their source systems


def test_a_record_is_keyed_by_source_system_and_record_id_whichever_table_it_comes_from(
    spark: SparkSession
) -> None:
    # why one system may not be named by two sources: contact 1 and lead 1 are different
    # people, yet their keys are one; a row naming its system as 'crm' joins them (data: not
    # checked by the config)
    contacts, leads = (DedupeSource(**source) for source in CRM_SOURCES)
    people = DedupeSource(table="people", record_id="id", system_column="system",
                          columns=CRM_COLUMNS)
    updated = datetime(2026, 3, 1)
    keyed = [
        read_source(rows_frame(spark, [row], schema), source, "44")
        .transform(with_match_keys(nickname_frame(spark)))
        .select("identity_key", "source_system", "source_record_id", "first_name")
        for source, row, schema in (
            (contacts, ("1", "Ann Lee", "ann@x.org", updated), CONTACT),
            (leads, ("1", "Bob Stone", "bob@y.org", updated), CONTACT),
            (people, ("1", " CRM ", "Cy Dale", "cy@z.org", updated), PERSON))]

    assert_df_equality(keyed[0].unionByName(keyed[1]).unionByName(keyed[2]),
                       rows_frame(spark, [("crm:1", "crm", "1", "ann"),
                                              ("crm:1", "crm", "1", "bob"),
                                              ("crm:1", "crm", "1", "cy")],
                                             "identity_key string, source_system string, "
                                             "source_record_id string, first_name string"),
                       ignore_row_order=True, ignore_nullable=True)


def test_two_sources_naming_one_source_system_are_refused_in_one_line_naming_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = crm_config(tmp_path)

    code = cli.main(["config", "--env", "dev", "--config", str(config)])

    assert (code, capsys.readouterr()) == (
        2, ("", f"lakejobs: error: {config}: {EXPECTED_ONE_SYSTEM_PER_SOURCE}\n"))


def test_the_master_data_job_refuses_them_before_it_reads_a_record(
    spark: SparkSession, tmp_path: Path
) -> None:
    config = crm_config(tmp_path)
    root = tmp_path / "lake"
    for table, row in (("crm_contacts", ("1", "Ann Lee", "ann@x.org", datetime(2026, 3, 1))),
                       ("crm_leads", ("1", "Bob Stone", "bob@y.org", datetime(2026, 3, 1)))):
        rows_frame(spark, [row], CONTACT).write.format("delta").save(
            str(root / "staging" / table))

    with pytest.raises(ConfigError) as err:
        run_job(get_job("master_data_dedupe"), [
            "job.py", "--JOB_NAME", "dedupe", "--env", "dev", "--config", str(config)],
            spark=spark)

    assert str(err.value) == f"{config}: {EXPECTED_ONE_SYSTEM_PER_SOURCE}"
    assert err.value.__cause__ is None and err.value.__suppress_context__
    # no master-data table was written (the job used to run, and drop lead 1 as an older
    # version of contact 1)
    assert sorted(p.name for p in root.iterdir()) == ["staging"]


def test_sources_of_distinct_systems_or_naming_their_system_per_row_are_accepted() -> None:
    settings = settings_from_mapping({"dedupe": {"sources": [
        CRM_SOURCES[0], {**CRM_SOURCES[1], "source_system": "crm_leads"},
        {"table": "people", "record_id": "id", "system_column": "system",
         "columns": CRM_COLUMNS},
        {"table": "visitors", "record_id": "id", "system_column": "system",
         "columns": CRM_COLUMNS}]}}, source="test", env="dev", environ={})

    assert [(s.table, s.source_system, s.system_column) for s in settings.dedupe.sources] == [
        ("crm_contacts", "crm", None), ("crm_leads", "crm_leads", None),
        ("people", None, "system"), ("visitors", None, "system")]


def test_one_table_listed_twice_is_refused_naming_both_positions() -> None:
    with pytest.raises(ConfigError) as err:
        settings_from_mapping({"dedupe": {"sources": [
            {**CRM_SOURCES[0], "source_system": None, "system_column": "system"},
            CRM_SOURCES[1],
            {**CRM_SOURCES[0], "source_system": None, "system_column": "origin"}]}},
            source="dev.yaml", env="dev", environ={})

    assert str(err.value) == (
        "dev.yaml: dedupe: sources.2: staging.crm_contacts is already sources.0: expected each "
        "table once (its rows would be read twice, each one taken for an older version of "
        "itself)")


def test_records_of_two_tables_sharing_a_key_are_quarantined_every_version(
    spark: SparkSession, tmp_path: Path
) -> None:
    """What the config cannot see: a people row naming its system ``retail``, as the customers
    table's fixed system, with a customer's id. Both records (every version) are quarantined
    as ``key_collision``; before, the older was dropped as a version of the other."""
    lake = PeopleLake(spark, tmp_path, extra_sources=(CUSTOMER_SOURCE,))
    lake.stage([
        ("1", "retail", "Cy", "Dale", None, "cy@z.org", None, None, None, None, None,
         "2026-03-01 10:00:00"),
        ("1", "retail", "Cy", "Dale", None, "cy@new.org", None, None, None, None, None,
         "2026-03-02 10:00:00"),  # a second version of the colliding record
        ("2", "crm", "Ann", "Lee", None, "ann@x.org", None, None, None, None, None,
         "2026-03-01 10:00:00"),
    ])
    lake.stage_customers([(1, "Bob Stone", "bob@y.org", None, None, "2026-03-01 10:00:00"),
                          (3, "Eve Moss", "eve@w.org", None, None, "2026-03-01 10:00:00")])

    result = lake.run("r1")

    assert (result.rows_read, result.rows_written, result.rows_quarantined) == (5, 2, 3)
    assert (result.summary["identities"], result.summary["older_versions"],
            result.summary["quarantined"]) == (2, 0, 3)
    assert_df_equality(
        lake.table("source_identities", zone="quarantine").select("source_table", "reason"),
        rows_frame(spark, [("staging.people", "key_collision"),
                               ("staging.people", "key_collision"),
                               ("staging.customers", "key_collision")],
                              "source_table string, reason string"),
        ignore_row_order=True, ignore_nullable=True)
    assert sorted(r.identity_key for r in lake.table("source_identities").collect()) == [
        "crm:2", "retail:3"]


# 2. the DSAR job's run-log summary


def run_log_summary(spark: SparkSession, root: Path) -> DataFrame:
    """``run_id``, ``status`` and ``summary`` (JSON, as the runtime writes it) of every run."""
    return spark.read.format("delta").load(str(root / "_lakejobs" / "analytics_job_run")).select(
        "run_id", "status", "summary")


def test_the_dsar_summary_counts_a_request_whose_user_id_is_found_nowhere_as_not_found(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    lake = IdentityLake(spark, tmp_path, dsar_tables=[
        {"zone": "staging", "table": "events", "columns": {"user_id": "u", "anon_id": "a"}}])
    lake.stage([ev(1, DAY1, user="U1", anon="A1"), ev(2, DAY1, user="U2")])
    lake.run("r1", DAY1)
    file_requests(spark, lake.root, [("req-1", "U1", DAY1, None),
                                     ("req-typo", "U1x", DAY1, None)])

    result = lake.run("d1", DAY1, job="identity_dsar")

    # U1: nodes U1 and A1 and their edge (3 graph rows), and event e1
    assert result.summary == {"requests": 2, "rows_deleted": 4, "not_found": 1}
    assert_df_equality(run_log_summary(spark, lake.root).where("run_id = 'd1'"),
                       rows_frame(spark,
                           [("d1", "SUCCEEDED", '{"not_found": 1, "requests": 2, '
                                                '"rows_deleted": 4}')],
                           "run_id string, status string, summary string"),
                       ignore_nullable=True)


def test_the_dsar_summary_counts_a_request_whose_canonical_id_is_found_nowhere_as_not_found(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    config, paths = master_data_config(tmp_path)
    write(rows_frame(spark, [("1", "a@x.org"), ("2", "b@x.org")], "rid string, email string"),
          paths.table("staging", "people"))
    write_members(spark, paths, [("crm:1", "cu_a"), ("crm:2", "cu_b")])
    file_requests(spark, tmp_path / "lake", [("req-1", None, DAY1, "cu_a"),
                                             ("req-typo", None, DAY1, "cu_x")])

    result = run_dsar(spark, config, "d1")

    # cu_a: record 1 of staging.people and its canonical_members row
    assert result.summary == {"requests": 2, "rows_deleted": 2, "not_found": 1}


def test_the_dsar_summary_counts_no_request_not_found_when_every_id_is_found(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAKEJOBS_IDENTITY_SALT", SALT)
    config, paths = master_data_config(tmp_path)
    write(rows_frame(spark, [("1", "a@x.org")], "rid string, email string"),
          paths.table("staging", "people"))
    write_members(spark, paths, [("crm:1", "cu_a")])
    file_requests(spark, tmp_path / "lake", [("req-1", None, DAY1, "cu_a")])

    first = run_dsar(spark, config, "d1")
    again = run_dsar(spark, config, "d2")

    assert (first.summary, again.summary) == (
        {"requests": 1, "rows_deleted": 2, "not_found": 0},
        {"requests": 0, "rows_deleted": 0, "not_found": 0})
