"""Great Expectations runs on Spark (lakejobs.batch.gx_validation) and their Data Docs.

One GX run per module (GX's first run costs ~20 s of metric jobs); the tests read its report and
render its Data Docs with headless Chromium. The expected counts were worked out by hand from the
rows below, following GX's semantics:

- column map expectations (between, in_set, match_regex, value_lengths, unique) ignore nulls;
  only not_null counts them;
- unique counts every row of a duplicated group (two rows with id 2 -> 2), not the extras;
- compound unique skips rows where all listed columns are null, and groups a null with other
  nulls otherwise ((None, "de") twice -> 2);
- between is inclusive unless strict_min/strict_max; match_regex searches (unanchored).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chromium import rendered_dom, visible_text
from pyspark.sql import DataFrame, SparkSession

from lakejobs.batch.gx_validation import GxReport, run_gx_suite
from lakejobs.errors import DataQualityError
from lakejobs.local_rows import rows_frame

SUITE_NAME = "test.customers"

ROWS = [
    # customer_id, email, country, age, code
    (1, "ann@example.com", "DE", 30, "AB"),
    (2, "bob@example.com", "FR", 0, "ABC"),
    (2, "bob@example", "XX", 120, "A"),
    (3, None, None, None, None),
    (None, "dan@example.com", "de", 121, "ABCDE"),
    (4, "eve@example.comx", "GB", -1, "ABCD"),
    (5, "", "DE", 45, ""),
    (None, "fay@example.com", "de", 50, "AB"),
]
SCHEMA = "customer_id int, email string, country string, age int, code string"


def _expectation(type_: str, rule_id: str, severity: str, **kwargs: object) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"rule_id": rule_id, "severity": severity}}


SUITE = {
    "name": SUITE_NAME,
    "meta": {"table": "customers"},
    "expectations": [
        _expectation("expect_column_values_to_not_be_null", "id_present", "drop",
                     column="customer_id"),
        _expectation("expect_column_values_to_be_unique", "id_unique", "drop",
                     column="customer_id"),
        _expectation("expect_compound_columns_to_be_unique", "id_country_unique", "warn",
                     column_list=["customer_id", "country"]),
        _expectation("expect_column_values_to_be_between", "age_range", "drop",
                     column="age", min_value=0, max_value=120),
        _expectation("expect_column_values_to_be_between", "age_strict", "warn",
                     column="age", min_value=0, max_value=120, strict_min=True, strict_max=True),
        _expectation("expect_column_values_to_be_in_set", "country_known", "warn",
                     column="country", value_set=["DE", "FR", "GB"]),
        _expectation("expect_column_values_to_match_regex", "email_domain", "drop",
                     column="email", regex=r"@example\.com"),
        _expectation("expect_column_values_to_match_regex", "email_exact", "warn",
                     column="email", regex=r"^[a-z]+@example\.com$"),
        _expectation("expect_column_value_lengths_to_be_between", "code_length", "drop",
                     column="code", min_value=2, max_value=4),
        _expectation("expect_column_values_to_not_be_null", "country_mostly_present", "warn",
                     column="country", mostly=0.8),
        _expectation("expect_table_row_count_to_be_between", "row_count", "fail",
                     min_value=1, max_value=5),
        _expectation("unexpected_rows_expectation", "no_centenarians", "warn",
                     unexpected_rows_query="SELECT * FROM {batch} WHERE age > 100"),
    ],
}


@pytest.fixture(scope="module")
def customers(spark: SparkSession) -> DataFrame:
    return rows_frame(spark, ROWS, SCHEMA)


@pytest.fixture(scope="module")
def report(customers: DataFrame, tmp_path_factory: pytest.TempPathFactory) -> GxReport:
    project = tmp_path_factory.mktemp("gx_project")
    return run_gx_suite(customers, SUITE, project_dir=project, run_name="test-run-1")


@pytest.fixture
def chromium_profile(tmp_path: Path) -> Iterator[Path]:
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    yield profile


def test_gx_counts_unexpected_rows_of_each_expectation_in_suite_order(report: GxReport) -> None:
    counts = [(r.meta["rule_id"], r.success, r.unexpected_count) for r in report.results]

    assert counts == [
        ("id_present", False, 2),              # two null ids
        ("id_unique", False, 2),               # both rows of id 2; the two null ids are ignored
        ("id_country_unique", False, 2),       # (None, "de") twice: nulls group together
        ("age_range", False, 2),               # 121 and -1; 0 and 120 are inside
        ("age_strict", False, 4),              # 0, 120, 121, -1
        ("country_known", False, 3),           # "XX", "de", "de"; the null is ignored
        ("email_domain", False, 2),            # "bob@example", ""; "...comx" matches (search)
        ("email_exact", False, 3),             # "bob@example", "eve@example.comx", ""
        ("code_length", False, 3),             # "A", "ABCDE", "" (length 0); null ignored
        ("country_mostly_present", True, 1),   # 1 null in 8 rows passes mostly=0.8
        ("row_count", False, None),
        ("no_centenarians", False, None),
    ]
    assert report.success is False


def test_gx_reports_table_level_figures_as_observed_values(report: GxReport) -> None:
    observed = {r.type: r.observed_value for r in report.results
                if r.type in ("expect_table_row_count_to_be_between",
                              "unexpected_rows_expectation")}

    # unexpected_rows_expectation works on a Spark DataFrame: its figure is the number of rows
    # the query returned (ages 120 and 121), reported as observed_value, not unexpected_count.
    assert observed == {"expect_table_row_count_to_be_between": 8,
                        "unexpected_rows_expectation": 2}


def test_gx_report_keeps_the_suites_own_kwargs_and_meta(report: GxReport) -> None:
    assert [(r.type, r.kwargs, r.meta) for r in report.results] == [
        (e["type"], e["kwargs"], e["meta"]) for e in SUITE["expectations"]
    ]


def test_gx_run_leaves_the_session_as_it_found_it(
    report: GxReport, customers: DataFrame, spark: SparkSession
) -> None:
    assert customers.is_cached is False  # GX persisted the batch; run_gx_suite released it
    assert spark.catalog.tableExists("tmp_view") is False  # GX's view for the rows query


def test_data_docs_validation_page_shows_the_failed_suite_in_chromium(
    report: GxReport, chromium_profile: Path
) -> None:
    assert report.validation_page is not None

    text = visible_text(rendered_dom(report.validation_page, profile_dir=chromium_profile))

    assert f"Expectation Suite: {SUITE_NAME}" in text
    assert "Status: Failed" in text
    assert "Run Name test-run-1" in text
    assert ("Evaluated Expectations 12 Successful Expectations 1 "
            "Unsuccessful Expectations 11") in text
    # Table-level expectations first, then one section per column (header, then its rows).
    heading = "Status Expectation Observed Value"
    for rendered in [
        ("Values for given compound columns must be unique together: customer_id , country "
         "2 unexpected values found."),
        "Must have greater than or equal to 1 and less than or equal to 5 rows. 8",
        "Unexpected rows query: SELECT * FROM {batch} WHERE age > 100 2",
        (f"age {heading} values must be greater than or equal to 0.0 and less than or equal to "
         "120.0 . 2 unexpected values found."),
        "values must be greater than 0.0 and less than 120.0 . 4 unexpected values found.",
        (f"code {heading} values must always be greater than or equal to 2 and less than or "
         "equal to 4 characters long. 3 unexpected values found."),
        f"country {heading} values must belong to this set: DE FR GB . 3 unexpected values found.",
        f"customer_id {heading} values must never be null. 2 unexpected values found.",
        "values must be unique. 2 unexpected values found.",
        (f"email {heading} values must match this regular expression: @example\\.com . "
         "2 unexpected values found."),
    ]:
        assert rendered in text, rendered


def test_data_docs_index_links_the_failed_validation_in_chromium(
    report: GxReport, chromium_profile: Path
) -> None:
    assert report.docs_index is not None and report.validation_page is not None

    dom = rendered_dom(report.docs_index, profile_dir=chromium_profile)

    assert "Validation Results" in visible_text(dom)
    # The index's table is drawn by bootstrap-table, which Data Docs load from a CDN that an
    # offline render cannot reach; the rows it would draw are embedded in the page, so check
    # that they list this run's page, failed.
    rows = re.findall(r"'_table_row_link_path': '([^']+)', '_validation_success_text': '(\w+)'",
                      dom)
    page = report.validation_page.relative_to(report.docs_index.parent).as_posix()
    assert rows == [(page, "Failed")]
    assert f"'_expectation_suite_name_sort': '{SUITE_NAME}'" in dom


def test_run_gx_suite_names_an_expectation_gx_does_not_know(
    customers: DataFrame, tmp_path: Path
) -> None:
    suite = {"name": "test.unknown", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}},
        {"type": "expect_column_to_be_pretty", "kwargs": {"column": "email"}},
    ]}

    with pytest.raises(DataQualityError,
                       match=r"'test\.unknown': expectations\[1\] \(expect_column_to_be_pretty\)"):
        run_gx_suite(customers, suite, project_dir=tmp_path, run_name="unknown")


def test_run_gx_suite_names_an_expectation_gx_could_not_evaluate(
    customers: DataFrame, tmp_path: Path
) -> None:
    suite = {"name": "test.missing_column", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "phone"}},
    ]}

    with pytest.raises(DataQualityError, match=r"could not evaluate "
                       r"expect_column_values_to_not_be_null \{'column': 'phone'\}.*phone"):
        run_gx_suite(customers, suite, project_dir=tmp_path, run_name="missing", build_docs=False)


def test_run_gx_suite_without_great_expectations_asks_for_the_gx_extra(
    customers: DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "great_expectations", None)  # import now raises ImportError

    with pytest.raises(DataQualityError, match=r"install lakejobs\[gx\]"):
        run_gx_suite(customers, SUITE, project_dir=tmp_path, run_name="no-gx")
