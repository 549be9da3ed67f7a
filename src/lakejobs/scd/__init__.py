"""SCD type 1 and type 2 merges into Delta dimensions.

    spec = ScdSpec(keys=("customer_id",), sequence_by="lsn", effective_at="ts",
                   scd2_columns=("segment", "city"), scd1_columns=("email",), operation="op")
    apply_changes(spark, changes, spec, "s3://lake/curated/dim_customer")
"""

from lakejobs.scd.history import dimension_schema
from lakejobs.scd.maintenance import optimize_dimension
from lakejobs.scd.merge import (
    INFERRED_FROM,
    ScdConflictError,
    ScdResult,
    add_inferred_members,
    apply_changes,
    changes_writer,
    current_rows,
    ensure_dimension,
    initial_dimension,
    real_versions,
)
from lakejobs.scd.snapshot import apply_snapshot, snapshot_changes
from lakejobs.scd.spec import ScdSpec

__all__ = [
    "INFERRED_FROM",
    "ScdConflictError",
    "ScdResult",
    "ScdSpec",
    "add_inferred_members",
    "apply_changes",
    "apply_snapshot",
    "changes_writer",
    "current_rows",
    "dimension_schema",
    "ensure_dimension",
    "initial_dimension",
    "optimize_dimension",
    "real_versions",
    "snapshot_changes",
]
