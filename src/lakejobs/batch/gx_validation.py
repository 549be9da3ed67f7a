"""Run a Great Expectations (GX Core 1.x) suite on a Spark DataFrame and build its Data Docs.

The suite is the parsed JSON of a GX suite file (``{"name": ..., "expectations": [...]}``); our
own keys (``severity``, ``rule_id``) live in each expectation's ``meta``, which GX keeps but does
not interpret. GX evaluates the suite with its own Spark execution engine on the session the
DataFrame belongs to, stores the result in a file-backed GX project under ``project_dir`` and, when
asked, renders Data Docs there (``gx/uncommitted/data_docs/local_site/``).

great_expectations is an optional dependency (the ``gx`` extra): it is imported inside the
functions, so lakejobs imports without it.

Works on pyspark 3.5 and 4.1 alike. On 4.x GX first tries a Spark Connect session; without a
``SPARK_REMOTE`` that fails (``ValueError``, or ``ImportError`` when pyarrow/grpc are missing) and
GX falls back to ``SparkSession.builder.getOrCreate()``, i.e. the session already running. We pass
no ``spark_config``, so GX never changes or restarts that session.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from lakejobs.errors import DataQualityError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DATASOURCE = "lakejobs_spark"
BATCH_DEFINITION = "whole_dataframe"
DOCS_SITE = "local_site"
# GX runs query-based expectations (unexpected_rows_expectation) on a temp view of the batch that
# it always names "tmp_view" and leaves in the session.
GX_QUERY_VIEW = "tmp_view"
# SUMMARY gives unexpected_count and at most 20 example values per expectation; COMPLETE would
# collect every unexpected value to the driver.
RESULT_FORMAT = {"result_format": "SUMMARY"}
_GX_LOCK = threading.Lock()


@dataclass(frozen=True)
class GxExpectationResult:
    """GX's verdict on one expectation of the suite.

    ``type``, ``kwargs`` and ``meta`` are as written in the suite. ``unexpected_count`` is GX's
    count for column map and uniqueness expectations and None for the others; table-level ones
    (row count, unexpected rows) report their figure in ``observed_value``.
    """

    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]
    success: bool
    unexpected_count: int | None
    observed_value: Any


@dataclass(frozen=True)
class GxReport:
    """The outcome of one suite run; ``results`` are in the suite's order."""

    success: bool
    results: tuple[GxExpectationResult, ...]
    docs_index: Path | None
    validation_page: Path | None


def run_gx_suite(
    df: DataFrame,
    suite: Mapping[str, Any],
    *,
    project_dir: str | Path,
    run_name: str,
    build_docs: bool = True,
) -> GxReport:
    """Validate ``df`` against a GX suite with GX's Spark engine, and build Data Docs.

    Args:
        df: The batch to validate (the whole DataFrame is one GX batch).
        suite: A GX Core 1.x suite as parsed JSON: ``name``, ``expectations`` (each with
            ``type``, ``kwargs`` and optionally ``meta``) and optionally ``meta``.
        project_dir: Local folder of the file-backed GX project (created if missing; reused by
            later runs, so Data Docs list every run).
        run_name: Names this run in the validation store and in Data Docs.
        build_docs: Render Data Docs (index and this run's validation page).

    Returns:
        The overall verdict, one result per expectation in suite order, and the Data Docs index
        and validation page (None when ``build_docs`` is False).

    Raises:
        DataQualityError: great_expectations is not installed, the suite is malformed, or GX
            could not evaluate an expectation (unknown column, bad query, ...).
    """
    with _GX_LOCK:  # a file-backed GX project is not safe for concurrent use
        return _run_gx_suite(df, suite, project_dir=project_dir, run_name=run_name,
                             build_docs=build_docs)


def _run_gx_suite(df: DataFrame, suite: Mapping[str, Any], *, project_dir: str | Path,
                  run_name: str, build_docs: bool) -> GxReport:
    name, expectations = _checked_suite(suite)
    if "://" in str(project_dir):
        raise DataQualityError(
            f"GX project_dir must be a local folder, got {project_dir!r} (copy the Data Docs "
            "to object storage after the run)"
        )
    gx = _import_gx()
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.exceptions import GreatExpectationsError

    context = _file_context(gx, Path(project_dir))
    gx_suite = context.suites.add_or_update(
        gx.ExpectationSuite(name=name, expectations=_gx_expectations(name, expectations),
                            meta=dict(suite["meta"]) if suite.get("meta") else None)
    )
    # GX reports results grouped by column, not in suite order; the ids it gave the expectations
    # when the suite was stored lead each result back to its place in the suite.
    position = {e.id: i for i, e in enumerate(gx_suite.expectations)}
    checkpoint = _checkpoint(gx, context, gx_suite, build_docs=build_docs)
    was_cached = df.is_cached
    uses_query_view = any("unexpected_rows_query" in e["kwargs"] for e in expectations)
    try:
        outcome = checkpoint.run(batch_parameters={"dataframe": df},
                                 run_id=RunIdentifier(run_name=run_name))
    except GreatExpectationsError as e:
        raise DataQualityError(f"GX could not run suite '{name}': {e}") from e
    finally:
        # GX's Spark engine persists the batch (it computes dozens of metrics on it) and never
        # releases it; release what we cached.
        if not was_cached:
            df.unpersist()
        if uses_query_view:
            df.sparkSession.catalog.dropTempView(GX_QUERY_VIEW)

    [(result_id, validation)] = outcome.run_results.items()
    by_position = {position[r.expectation_config.id]: r for r in validation.results}
    if sorted(by_position) != list(range(len(expectations))):
        raise DataQualityError(
            f"GX suite '{name}': GX returned {len(by_position)} results for "
            f"{len(expectations)} expectations"
        )
    results = tuple(_result(name, e, by_position[i]) for i, e in enumerate(expectations))
    docs_index = validation_page = None
    if build_docs:
        docs_index = _docs_path(context.get_docs_sites_urls(site_names=[DOCS_SITE]))
        validation_page = _docs_path(
            context.get_docs_sites_urls(resource_identifier=result_id, site_names=[DOCS_SITE])
        )
    return GxReport(success=bool(validation.success), results=results, docs_index=docs_index,
                    validation_page=validation_page)


def _checked_suite(suite: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    name = suite.get("name")
    if not isinstance(name, str) or not name:
        raise DataQualityError(f"GX suite needs a non-empty 'name', got {name!r}")
    expectations = suite.get("expectations")
    if not isinstance(expectations, list):
        raise DataQualityError(
            f"GX suite '{name}': 'expectations' must be a list, got {type(expectations).__name__}"
        )
    for i, expectation in enumerate(expectations):
        if not (isinstance(expectation, Mapping) and isinstance(expectation.get("type"), str)
                and isinstance(expectation.get("kwargs"), Mapping)):
            raise DataQualityError(
                f"GX suite '{name}': expectations[{i}] needs a 'type' string and a 'kwargs' "
                f"object, got {expectation!r}"
            )
    return name, expectations


def _gx_expectations(suite_name: str, expectations: list[Mapping[str, Any]]) -> list[Any]:
    """GX Expectation objects, built one by one so that a bad one fails naming its place.

    (``ExpectationSuite`` itself only logs an unknown type or invalid kwargs and drops the
    expectation, which would silently validate less than the suite says.)
    """
    from great_expectations.exceptions import GreatExpectationsError
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built = []
    for i, expectation in enumerate(expectations):
        try:
            built.append(ExpectationConfiguration(**expectation).to_domain_obj())
        except (GreatExpectationsError, TypeError, ValueError) as e:
            raise DataQualityError(
                f"GX suite '{suite_name}': expectations[{i}] ({expectation.get('type')}) is not "
                f"valid for GX: {e}"
            ) from e
    return built


def _import_gx() -> Any:
    try:
        with warnings.catch_warnings():
            # GX imports pyspark.ml, whose 3.5 release still imports the deprecated distutils.
            warnings.filterwarnings("ignore", message="The distutils package is deprecated",
                                    category=DeprecationWarning)
            import great_expectations as gx
    except ImportError as e:
        raise DataQualityError(
            "great_expectations is not installed: install lakejobs[gx] (on Glue, add "
            "great_expectations==1.24.1 to --additional-python-modules)"
        ) from e
    return gx


def _file_context(gx: Any, project_dir: Path) -> Any:
    """The file-backed GX project in ``project_dir``, quiet: no analytics, no progress bars."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    project_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(project_dir))
    # GX 1.24.1 ships no analytics client (it makes no network calls on this path); the flag is
    # still recorded as off in the project's gx.yml. Progress bars would write tqdm bars to
    # stderr for every batch of metrics.
    context.variables.analytics_enabled = False
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    return context


def _checkpoint(gx: Any, context: Any, gx_suite: Any, *, build_docs: bool) -> Any:
    """A checkpoint validating ``gx_suite`` on a whole DataFrame, updating Data Docs if asked.

    Validation definition and checkpoint take the suite's name, so reruns replace them.
    """
    from great_expectations.checkpoint import UpdateDataDocsAction

    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=gx_suite.name, suite=gx_suite,
                                data=_batch_definition(context, gx_suite.name))
    )
    actions = [UpdateDataDocsAction(name="update_data_docs", site_names=[DOCS_SITE])]
    return context.checkpoints.add_or_update(
        gx.Checkpoint(name=gx_suite.name, validation_definitions=[definition],
                      actions=actions if build_docs else [], result_format=RESULT_FORMAT)
    )


def _batch_definition(context: Any, asset_name: str) -> Any:
    """The whole-DataFrame batch definition of ``asset_name``, created on first use."""
    source = context.data_sources.add_or_update_spark(name=DATASOURCE)
    if asset_name in source.get_asset_names():
        asset = source.get_asset(asset_name)
    else:
        asset = source.add_dataframe_asset(name=asset_name)
    for definition in asset.batch_definitions:
        if definition.name == BATCH_DEFINITION:
            return definition
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _result(suite_name: str, expectation: Mapping[str, Any], result: Any) -> GxExpectationResult:
    config = result.expectation_config
    failure = _exception_message(result.exception_info)
    if failure is not None:
        raise DataQualityError(
            f"GX suite '{suite_name}': GX could not evaluate {config.type} "
            f"{_shown_kwargs(config.kwargs)}: {failure}"
        )
    figures = result.result or {}
    unexpected = figures.get("unexpected_count")
    return GxExpectationResult(
        type=str(expectation["type"]),
        kwargs=dict(expectation["kwargs"]),
        meta=dict(expectation.get("meta") or {}),
        success=bool(result.success),
        unexpected_count=None if unexpected is None else int(unexpected),
        observed_value=figures.get("observed_value"),
    )


def _exception_message(info: Any) -> str | None:
    """GX's error message for an expectation it could not evaluate, else None.

    ``exception_info`` is either one ``{"raised_exception": ..., "exception_message": ...}`` or,
    when several metrics failed, such dicts keyed by metric.
    """
    if not info:
        return None
    entries = [info] if "raised_exception" in info else list(info.values())
    messages = [str(e.get("exception_message")) for e in entries if e.get("raised_exception")]
    return "; ".join(dict.fromkeys(messages)) or None


def _shown_kwargs(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k != "batch_id"}


def _docs_path(sites: list[dict[str, str]]) -> Path | None:
    """The local file behind a Data Docs ``file://`` URL, if the page exists."""
    for site in sites:
        url = urlparse(site.get("site_url") or "")
        if url.scheme == "file" and Path(url2pathname(url.path)).is_file():
            return Path(url2pathname(url.path))
    return None
