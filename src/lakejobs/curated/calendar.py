"""The generated date dimension (pure: a frame of days, no I/O)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakejobs.curated.models import UNKNOWN_DATE_KEY, Calendar
from lakejobs.local_rows import rows_frame

CALENDAR_COMMENTS = {
    "date_key": "yyyymmdd; -1 is the unknown date",
    "date": "the day (null for the unknown date)",
    "year": "calendar year",
    "quarter": "calendar quarter, 1-4",
    "month": "month, 1-12",
    "month_name": "month name in English",
    "day_of_month": "day of the month, 1-31",
    "day_of_week": "ISO day of the week, 1 = Monday … 7 = Sunday",
    "day_name": "day name in English",
    "week_of_year": "ISO week number",
    "is_weekend": "Saturday or Sunday",
}


def date_key(column: str) -> F.Column:
    """``yyyymmdd`` of a date or timestamp column; the unknown date key when it is null."""
    day = F.to_date(F.col(column))
    return F.coalesce(F.date_format(day, "yyyyMMdd").cast("int"), F.lit(UNKNOWN_DATE_KEY))


def calendar_days(spark: SparkSession, calendar: Calendar) -> DataFrame:
    """One row per day from ``calendar.start`` to ``calendar.end``, plus the unknown date."""
    days = spark.range(1).select(
        F.explode(F.sequence(F.lit(calendar.start), F.lit(calendar.end),
                             F.expr("INTERVAL 1 DAY"))).alias("date"))
    unknown = rows_frame(spark, [(None,)], "date date")
    return days.unionByName(unknown).select(
        date_key("date").alias("date_key"),
        F.col("date"),
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.dayofmonth("date").alias("day_of_month"),
        ((F.dayofweek("date") + 5) % 7 + 1).alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.weekofyear("date").alias("week_of_year"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )
