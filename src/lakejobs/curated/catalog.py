"""Registering curated tables in the Spark catalog (on AWS Glue: the Glue Data Catalog).

Tables are external: ``CREATE TABLE … USING DELTA LOCATION …`` points the catalog at the Delta
table the jobs write, so Athena and Redshift Spectrum read the same files. Column comments come
from the model; a comment is only written when it differs, so a rerun commits nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from pyspark.sql import SparkSession

from lakejobs.paths import validate_name

log = logging.getLogger(__name__)


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def register_table(
    spark: SparkSession,
    database: str,
    table: str,
    location: str,
    *,
    comment: str = "",
    column_comments: Mapping[str, str] | None = None,
) -> str:
    """Register the Delta table at ``location`` as ``database.table``; returns the full name.

    Raises:
        InvalidNameError: ``database`` or ``table`` is not a safe name.
    """
    name = f"`{validate_name(database)}`.`{validate_name(table)}`"
    spark.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION {_literal(location)}")
    columns = spark.catalog.listColumns(f"{database}.{table}")
    current = {c.name: c.description or "" for c in columns}
    for column, text in (column_comments or {}).items():
        if column in current and text and current[column] != text:
            spark.sql(f"ALTER TABLE {name} ALTER COLUMN `{validate_name(column, 'column')}` "
                      f"COMMENT {_literal(text)}")
    if comment and spark.catalog.getTable(f"{database}.{table}").description != comment:
        spark.sql(f"ALTER TABLE {name} SET TBLPROPERTIES ('comment' = {_literal(comment)})")
    log.info("registered %s at %s", name, location)
    return f"{database}.{table}"
