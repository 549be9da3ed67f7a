"""Staging → curated: star schemas declared as data (``conf/models/``), kept incrementally.

    model = load_model("conf/models/retail.yaml")
    # run by the staging_to_curated job: dimensions (SCD), facts with point-in-time lookups and
    # inferred members, the engagement aggregate, integrity check, catalog registration
"""

from lakejobs.curated.models import CuratedModel, load_model

__all__ = ["CuratedModel", "load_model"]
