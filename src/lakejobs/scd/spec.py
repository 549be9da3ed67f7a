"""What a slowly changing dimension looks like: keys, ordering, tracked and overwritten columns."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from lakejobs.errors import ConfigError

_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Reserved output columns (besides the surrogate key).
EFFECTIVE_FROM = "effective_from"
EFFECTIVE_TO = "effective_to"
IS_CURRENT = "is_current"
IS_DELETED = "is_deleted"
IS_INFERRED = "is_inferred"
SEQ_FROM = "_seq_from"
TRACKED_HASH = "_tracked_hash"
CHANGE_LOG = "_change_log"
END_OF_TIME = "9999-12-31 23:59:59"  # UTC
_END_OF_TIME_MICROS = 253_402_300_799_000_000


# The merge's working columns (``history``, ``merge``, ``snapshot``): a change column of one of
# these names would be overwritten or shadowed halfway through a merge.
WORKING_COLUMNS = frozenset({
    "_action", "_copies", "_deleted_at", "_eff", "_eff_from", "_forgotten", "_has_delete",
    "_hash", "_held", "_inferred_only", "_latest", "_new_fp", "_new_row", "_old_fp", "_old_row",
    "_op", "_opens", "_origin", "_placeholder", "_rank", "_reasons", "_recorded_to", "_row",
    "_scd1", "_seq", "_start", "_unfilled", "_version",
})
WORKING_PREFIXES = ("_o_", "_old_")


def end_of_time() -> Column:
    """:data:`END_OF_TIME` as a timestamp: the same instant whatever the session time zone (a
    cast of the text would read it in the session's zone, and writers in two zones would
    disagree)."""
    return F.timestamp_micros(F.lit(_END_OF_TIME_MICROS))


@dataclass(frozen=True)
class ScdSpec:
    """How changes become dimension rows.

    Attributes:
        keys: natural (business) key columns.
        sequence_by: orders the changes of a key: commit position, LSN or timestamp. Two changes
            of one key with the same sequence are duplicates.
        scd2_columns: tracked columns: a change to any of them opens a new version.
        scd1_columns: overwritten columns: every version of a key carries the latest value.
        effective_at: column giving ``effective_from``/``effective_to``: a timestamp, a date,
            their text, or an integral number of milliseconds since 1970 (Debezium's
            ``ts_ms``, Kafka's timestamps); defaults to ``sequence_by`` (which must then be a
            timestamp or date).
        operation: CDC operation column; rows whose value is in ``delete_operations`` are deletes.
        delete_operations: operation values that mean delete (Debezium: ``d``).
        delete_flag: boolean column that marks a delete, as an alternative to ``operation``.
        surrogate_key: name of the surrogate key column.
        hard_delete: for dimensions without tracked columns (SCD1 only): remove deleted keys
            instead of closing and flagging them.
        inferred_members: the dimension may hold inferred members (placeholders for keys that
            facts reference before the source record arrives), flagged in ``is_inferred``. The
            first real change of such a key fills the placeholder in place: same surrogate key,
            same ``effective_from``, so facts that point at it stay right.
    """

    keys: tuple[str, ...]
    sequence_by: str
    scd2_columns: tuple[str, ...] = ()
    scd1_columns: tuple[str, ...] = ()
    effective_at: str | None = None
    operation: str | None = None
    delete_operations: tuple[str, ...] = ("d",)
    delete_flag: str | None = None
    surrogate_key: str = "sk"
    hard_delete: bool = False
    inferred_members: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "scd2_columns", tuple(self.scd2_columns))
        object.__setattr__(self, "scd1_columns", tuple(self.scd1_columns))
        object.__setattr__(self, "delete_operations", tuple(self.delete_operations))
        if not self.keys:
            raise ConfigError("ScdSpec: keys: expected at least one key column")
        names = [*self.keys, self.sequence_by, *self.scd2_columns, *self.scd1_columns,
                 self.surrogate_key]
        for name in names + [n for n in (self.effective_at, self.operation, self.delete_flag) if n]:
            if not _COLUMN.fullmatch(name):
                raise ConfigError(f"ScdSpec: column {name!r}: expected a plain column name")
        # names compared as Spark resolves them, without case: a tracked "_Version" is the
        # merge's "_version" to Spark, and was overwritten with the version counter
        attributes = [*self.keys, *self.scd2_columns, *self.scd1_columns]
        if len({a.lower() for a in attributes}) != len(attributes):
            raise ConfigError("ScdSpec: a column appears twice (in any case) among keys, scd2 and "
                              "scd1 columns")
        reserved = {EFFECTIVE_FROM, EFFECTIVE_TO, IS_CURRENT, IS_DELETED, IS_INFERRED, SEQ_FROM,
                    TRACKED_HASH, CHANGE_LOG, self.surrogate_key.lower()}
        clash = [a for a in attributes if a.lower() in reserved]
        if clash:
            raise ConfigError(f"ScdSpec: {sorted(clash)} are reserved dimension columns (Spark "
                              "matches names in any case): rename them")
        # Keys and attributes travel with the merge's working columns; the sequence, effective
        # time, operation and delete flag are read once, into the working columns (a landing
        # table's ``_op`` is a fine operation column), after ``_reasons`` is added to the batch.
        consumed = [n for n in (self.sequence_by, self.effective_at, self.operation,
                                self.delete_flag) if n]
        working = sorted({n for n in attributes if n.lower() in WORKING_COLUMNS
                          or n.lower().startswith(WORKING_PREFIXES)}
                         | {n for n in consumed if n.lower() == "_reasons"})
        if working:
            raise ConfigError(f"ScdSpec: {working}: expected column names other than the merge's "
                              f"working columns ({', '.join(sorted(WORKING_COLUMNS))} and names "
                              f"starting with {' or '.join(WORKING_PREFIXES)}); rename them")
        if self.hard_delete and self.scd2_columns:
            raise ConfigError(
                "ScdSpec: hard_delete: expected only for SCD1 dimensions (no scd2_columns); "
                "an SCD2 dimension closes and flags deleted versions"
            )
        if self.hard_delete and self.inferred_members:
            raise ConfigError("ScdSpec: inferred_members: not supported with hard_delete")

    @property
    def effective_column(self) -> str:
        return self.effective_at or self.sequence_by

    def keys_present(self) -> Column:
        """True for rows whose every key column is set."""
        present = F.lit(True)
        for key in self.keys:
            present = present & F.col(key).isNotNull()
        return present

    @property
    def attribute_columns(self) -> tuple[str, ...]:
        return (*self.scd2_columns, *self.scd1_columns)
