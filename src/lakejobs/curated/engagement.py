"""Daily engagement from analytics events (pure transforms): the ``fct_user_engagement`` mart.

An event counts for the first identifier it carries, strongest first (``user_id`` before
``anon_id``), written ``type:value`` so that ids of different types never collide. Events with
no identifier are counted per day as unattributed, so every event is accounted for:
events of a day = sum of the identities' events + unattributed events.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakejobs.curated.lookups import Transform, latest_per_key
from lakejobs.curated.models import Engagement

EVENT_DATE = "event_date"
IDENTITY = "identity_key"

ENGAGEMENT_COMMENTS = {
    EVENT_DATE: "UTC day of the events",
    IDENTITY: "identity: the strongest identifier of the events, as type:value",
    "events": "events of the identity that day",
    "sessions": "distinct sessions of the identity that day",
    "first_event_at": "first event of the day",
    "last_event_at": "last event of the day",
}
DAILY_COMMENTS = {
    EVENT_DATE: "UTC day",
    "active_identities": "identities with at least one event that day",
    "events": "all events of the day, attributed or not",
    "unattributed_events": "events without any identifier",
    "events_per_identity": "attributed events / active identities",
}


def identity_key(identities: Sequence[str]) -> Column:
    """``type:value`` of the first non-null identifier column."""
    return F.coalesce(*[F.concat(F.lit(f"{c.removesuffix('_id')}:"), F.col(c)) for c in identities])


def engagement_events(engagement: Engagement) -> Transform:
    """Staged events, one per event id, with their day and identity."""

    def transform(events: DataFrame) -> DataFrame:
        return events.transform(latest_per_key((engagement.event_id,), engagement.event_time)).select(
            F.to_date(engagement.event_time).alias(EVENT_DATE),
            identity_key(engagement.identities).alias(IDENTITY),
            F.col(engagement.event_time).alias("_at"),
            (F.col(engagement.session) if engagement.session else F.lit(None).cast("string"))
            .alias("_session"),
        )

    return transform


def engagement_by_identity(events: DataFrame) -> DataFrame:
    """One row per day and identity (from :func:`engagement_events` rows)."""
    return (
        events.where(F.col(IDENTITY).isNotNull())
        .groupBy(EVENT_DATE, IDENTITY)
        .agg(
            F.count(F.lit(1)).alias("events"),
            F.count_distinct("_session").alias("sessions"),
            F.min("_at").alias("first_event_at"),
            F.max("_at").alias("last_event_at"),
        )
    )


def daily_engagement(events: DataFrame) -> DataFrame:
    """One row per day (from :func:`engagement_events` rows)."""
    attributed = F.col(IDENTITY).isNotNull()
    return (
        events.groupBy(EVENT_DATE)
        .agg(
            F.count_distinct(IDENTITY).alias("active_identities"),
            F.count(F.lit(1)).alias("events"),
            F.count(F.when(~attributed, 1)).alias("unattributed_events"),
            F.count(F.when(attributed, 1)).alias("_attributed"),
        )
        .select(
            EVENT_DATE, "active_identities", "events", "unattributed_events",
            F.when(F.col("active_identities") > 0,
                   F.round(F.col("_attributed") / F.col("active_identities"), 4))
            .alias("events_per_identity"),
        )
    )
