"""Typed configuration: what `conf/<env>.yaml` may contain.

Every model is frozen and forbids unknown keys, so a typo fails at start-up instead of being
ignored. Secrets never appear here: a secret is configured by *reference* (the name of an
environment variable or a Secrets Manager id), and its value is only ever read at run time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

_FORBIDDEN_CONF_KEY = re.compile(r"(secret|password|passwd|token|access\.key|credential)", re.IGNORECASE)
ENV_NAME = r"^[a-z][a-z0-9_-]{0,31}$"
CLIENT_NAME = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ZoneSettings(_Model):
    """Folder names of the lake zones, below the lake root (and the client prefix)."""

    landing: str = Field("landing", description="raw records as ingested")
    staging: str = Field("staging", description="validated, conformed records")
    curated: str = Field("curated", description="star schemas, dimensions, aggregates")
    quarantine: str = Field("quarantine", description="rejected records with their reasons")
    system: str = Field("_lakejobs", description="run log, bookmarks and other library state")


class LakeSettings(_Model):
    """Where the lake lives."""

    root: str = Field(
        "lake",
        description="local folder (relative paths resolve against the working directory) "
        "or an s3:// URI",
    )
    client: Annotated[str, Field(pattern=CLIENT_NAME)] | None = Field(
        None, description="tenant: when set, every table lives under clients/{client}/"
    )
    zones: ZoneSettings = ZoneSettings()

    @field_validator("root")
    @classmethod
    def _root_is_folder_or_s3(cls, value: str) -> str:
        if "://" in value and not value.startswith(("s3://", "s3a://", "file://")):
            raise ValueError("expected a local folder or an s3:// URI")
        return value.rstrip("/") or "/"


class SparkSettings(_Model):
    """Local SparkSession settings. On AWS Glue the provided session is used unchanged."""

    master: str = Field("local[2]", description="Spark master for local runs")
    app_name: str = Field("lakejobs", description="Spark application name")
    shuffle_partitions: int = Field(4, ge=1, description="spark.sql.shuffle.partitions")
    ui_enabled: bool = Field(False, description="Spark UI for local runs")
    driver_memory: str = Field("2g", pattern=r"^\d+[kmgt]?$", description="local driver memory")
    session_time_zone: str = Field("UTC", description="every timestamp in the lake is UTC")
    jars_cache: str = Field(
        "~/.cache/lakejobs/ivy", description="Ivy cache for connector jars from Maven Central"
    )
    conf: dict[str, str] = Field(default_factory=dict, description="extra Spark settings")
    tiny_tables: bool = Field(
        False, description="a session over tiny tables (the test suite, the demo), where the "
        "driver's overhead is most of the time: huge generated methods are not JIT-compiled, "
        "PySpark does not record the Python call site of every DataFrame call and adaptive "
        "query execution is off")
    table_threads: int = Field(
        2, ge=1, le=32, description="independent tables a job loads side by side (driver "
        "threads sharing the executors; also on Glue); 1: one after another")

    @field_validator("conf")
    @classmethod
    def _no_secrets_in_conf(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if _FORBIDDEN_CONF_KEY.search(key):
                raise ValueError(
                    f"'{key}' looks like a credential: secrets come from environment "
                    "variables or AWS Secrets Manager, never from config files"
                )
        return value


class SecretRef(_Model):
    """Where to find one secret at run time. Holds the secret's *name*, never its value."""

    provider: Literal["env", "secretsmanager"] = Field("env", description="where the secret lives")
    name: str = Field(description="environment variable name, or Secrets Manager secret id")
    json_key: str | None = Field(None, description="key inside a JSON secret string")


class SecretsSettings(_Model):
    """References to the secrets the jobs use."""

    identity_salt: SecretRef = SecretRef(name="LAKEJOBS_IDENTITY_SALT")
    region: str | None = Field(None, description="AWS region for Secrets Manager")


class TableNames(_Model):
    """Names of the library's own tables in the system zone."""

    run_log: str = Field("analytics_job_run", description="one row per job run")
    bookmarks: str = Field("job_bookmarks", description="incremental state of every job")


class ValidationTable(_Model):
    """One landing table the landing → staging job validates."""

    name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$",
                               description="table name (landing and staging folder)")]
    contract: str = Field(
        description="contract YAML: a file bundled under conf/contracts/, a path or an s3:// URI"
    )
    rules: str | None = Field(
        None,
        description="rules: a GX suite (.json) or lakejobs rules (.yaml); bundled name under "
        "expectations/ or conf/rules/, a path or an s3:// URI",
    )
    marker: str | None = Field(
        "_SUCCESS", description="completion marker of a landing folder; null: every file is ready"
    )
    references: tuple[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$")], ...] = Field(
        (), description="staging tables the rules check references against"
    )


class ValidationSettings(_Model):
    """The landing → staging validation job."""

    tables: tuple[ValidationTable, ...] = ()
    results_table: str = Field("dq_results", pattern=r"^[a-z_][a-z0-9_]{0,127}$",
                               description="system table of per-rule results")
    data_docs: str | None = Field(
        None, description="folder for Great Expectations Data Docs; null: no Data Docs"
    )


class CuratedSettings(_Model):
    """The staging → curated job: star schemas built from a model file."""

    model: str = Field(
        "conf/models/retail.yaml",
        description="curated model YAML: a bundled name under conf/models/, a path or an s3:// URI",
    )
    database: str = Field(
        "curated", pattern=r"^[a-z_][a-z0-9_]{0,127}$",
        description="catalog database the curated tables are registered in (on AWS Glue: the "
        "Glue Data Catalog database)",
    )
    register_tables: bool = Field(True, description="register every curated table in the catalog")


class KafkaSecurity(_Model):
    """How the streaming job authenticates to Kafka (Amazon MSK). Credentials are references."""

    protocol: Literal["plaintext", "tls", "sasl_scram", "msk_iam"] = Field(
        "plaintext", description="plaintext (local broker), tls, sasl_scram (SASL/SCRAM over "
        "TLS) or msk_iam (SASL AWS_MSK_IAM over TLS, aws-msk-iam-auth on the classpath)")
    truststore_location: str | None = Field(
        None, description="JKS truststore for TLS; null: the JVM's default trust store")
    scram_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256"] = "SCRAM-SHA-512"
    username: SecretRef | None = Field(None, description="sasl_scram: where the user name is")
    password: SecretRef | None = Field(None, description="sasl_scram: where the password is")

    @model_validator(mode="after")
    def _scram_has_credentials(self) -> KafkaSecurity:
        if self.protocol == "sasl_scram" and (self.username is None or self.password is None):
            raise ValueError("sasl_scram needs 'username' and 'password' secret references")
        return self


class SchemaRegistrySettings(_Model):
    """A Confluent-compatible schema registry (Avro topics in the Confluent wire format)."""

    url: str = Field(description="base URL, e.g. https://registry.internal:8081")
    auth_env: str | None = Field(
        None, description="environment variable holding 'user:password' for basic auth")


OFFSETS_SPEC = ('earliest, latest or a JSON object of topic -> {partition: offset}, e.g. '
                '{"topicA": {"0": 23, "1": -2}} (-2: earliest, -1: latest)')


def starting_offsets_spec(value: str) -> dict[str, dict[str, int]] | None:
    """The offsets of a ``startingOffsets`` JSON spec, as Spark's Kafka source reads it; None for
    ``earliest`` or ``latest`` (any case, trimmed, as Spark takes them).

    Raises:
        ValueError: neither word nor a JSON object of topic -> {partition: offset} (Spark would
            fail the query at start, quoting its own example).
    """
    if value.strip().lower() in ("earliest", "latest"):
        return None
    problem = f"expected {OFFSETS_SPEC}"
    try:
        spec = json.loads(value)
    except ValueError:
        raise ValueError(f"not JSON: {problem}") from None
    if not isinstance(spec, dict) or not spec:
        raise ValueError(f"not a JSON object naming topics: {problem}")
    for topic, partitions in spec.items():
        if not isinstance(partitions, dict) or not partitions:
            raise ValueError(f"topic '{topic}' has no partition offsets: {problem}")
        for partition, offset in partitions.items():
            # bool is an int to Python, not to Spark's JSON reader
            if (not re.fullmatch(r"[0-9]{1,9}", partition) or isinstance(offset, bool)
                    or not isinstance(offset, int) or offset < -2):
                raise ValueError(f"topic '{topic}' partition {partition!r}: offset {offset!r}: "
                                 f"{problem}")
    return spec


def starting_offsets_problem(spec: dict[str, dict[str, int]], topics: Iterable[str]) -> str | None:
    """Why the topics of an offsets spec are not the topics read (None when they are). Spark's
    Kafka source needs the offsets of every partition it is assigned, and of no other: any
    other spec fails the query at start with an assertion and a stack trace."""
    read = sorted(set(topics))
    named = set(spec)
    if named - set(read):
        return (f"the spec names topics {sorted(named - set(read))} that are not read: "
                f"expected the offsets of exactly the topics read {read}")
    if set(read) - named:
        return (f"the spec names no offsets for {sorted(set(read) - named)}: expected the "
                f"offsets of exactly the topics read {read} (every partition of each)")
    return None


class StreamingSettings(_Model):
    """The Kafka (MSK) → landing streaming job."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    topics: tuple[str, ...] = Field((), description="topics to read; empty: the manifest's")
    topic_pattern: str | None = Field(None, description="subscribe by pattern instead")
    security: KafkaSecurity = KafkaSecurity()
    starting_offsets: str = Field("earliest", description="earliest, latest or a JSON offsets "
                                  "spec; used only when the query has no checkpoint yet")
    max_offsets_per_trigger: int | None = Field(
        500000, ge=1, description="records per micro-batch (bounds memory); null: no limit")
    trigger: Literal["processing_time", "available_now"] = Field(
        "processing_time", description="processing_time: run forever every trigger_interval; "
        "available_now: process what is there, then stop (scheduled runs)")
    trigger_interval: str = Field("1 minute", pattern=r"^\d+ (second|minute|hour)s?$",
                                  description="micro-batch interval for processing_time")
    manifest: str = Field(
        "conf/streaming/manifest.yaml",
        description="routes: a bundled name under conf/streaming/, a path or an s3:// URI")
    landing_format: Literal["delta", "parquet"] = Field("delta", description="landing tables")
    quarantine_table: str = Field("kafka_quarantine", pattern=r"^[a-z_][a-z0-9_]{0,127}$",
                                  description="quarantine-zone table of rejected records")
    metrics_table: str = Field("streaming_batches", pattern=r"^[a-z_][a-z0-9_]{0,127}$",
                               description="system table with one row of metrics per batch")
    max_payload_bytes: int = Field(1_048_576, ge=1, description="larger values are quarantined")
    dedupe_watermark_minutes: int = Field(
        60, ge=0, description="duplicates are looked for this far back (by ingestion time); "
        "records whose event time is older than this on arrival land flagged late")
    schema_failure_alert_rate: float = Field(
        0.005, ge=0, le=1, description="alert when a batch's schema-failure rate exceeds this")
    fail_on_data_loss: bool = Field(
        True, description="stop when Kafka offsets were lost (retention) instead of skipping")
    schema_registry: SchemaRegistrySettings | None = None
    query_name: str = Field("msk_to_landing", pattern=r"^[a-z_][a-z0-9_]{0,63}$",
                            description="names the checkpoint and the idempotent-write ids")

    @field_validator("starting_offsets")
    @classmethod
    def _offsets_of_the_topics_read(cls, value: str, info: ValidationInfo) -> str:
        spec = starting_offsets_spec(value)
        if spec is None:
            return value
        topics, pattern = info.data.get("topics"), info.data.get("topic_pattern")
        if topics:
            problem = starting_offsets_problem(spec, topics)
            if problem:
                raise ValueError(problem)
        elif pattern:
            try:
                compiled = re.compile(pattern)
            except re.error:  # a Java pattern Python cannot read: Spark will judge it
                return value
            unmatched = sorted(t for t in spec if not compiled.fullmatch(t))
            if unmatched:
                raise ValueError(f"the spec names topics {unmatched} that the topic_pattern "
                                 f"'{pattern}' does not match: expected the offsets of the "
                                 "topics it matches")
        # no topics: the manifest's, checked when the job loads it (kafka_source.source_options)
        return value

    @model_validator(mode="after")
    def _one_subscription(self) -> StreamingSettings:
        # Kafka takes one of subscribe and subscribePattern: the list would be ignored unsaid
        if self.topics and self.topic_pattern:
            raise ValueError("topics and topic_pattern are both set: expected one of them (a "
                             "list of topics, or a pattern)")
        return self


_TABLE = r"^[a-z_][a-z0-9_]{0,127}$"
_COLUMN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127})*$"
_PREFIX = r"^[a-z]{1,8}$"


class IdentifierType(_Model):
    """One kind of identifier in the identity graph and the policy that applies to it."""

    prefix: Annotated[str, Field(pattern=_PREFIX, description="node prefix, e.g. u for u:<hash>")]
    name: str = Field(description="what the identifier is (user, anon, session, device, ...)")
    linkable: bool = Field(True, description="whether edges of this type stitch identities; a "
                           "type that is not is kept in identity_edges (e.g. fraud signals) only")
    retention_days: int | None = Field(
        None, ge=1, description="an edge or node of this type links only while it was last seen "
        "within this many days; null: for ever")
    weight: float = Field(1.0, gt=0, le=1, description="how strongly one observation of this "
                          "type ties a node to its identity (confidence_score)")


class IdentitySource(_Model):
    """A table whose rows carry identifiers that are observed together."""

    zone: Literal["landing", "staging", "curated"] = "staging"
    table: Annotated[str, Field(pattern=_TABLE, description="table name in the zone")]
    time_column: Annotated[str, Field(pattern=_COLUMN, description="when the row was observed")]
    identifiers: dict[Annotated[str, Field(pattern=_COLUMN)], str] = Field(
        description="column → identifier type prefix")
    watermark_column: Annotated[str, Field(pattern=_COLUMN)] | None = Field(
        "_validated_at", description="rows above the last run's value are new (`_validated_at` "
        "of a table with row tracking, as staging: rows committed after the last run); null: "
        "read all")


class DsarTable(_Model):
    """A table that holds raw identifiers and must forget a person on a DSAR deletion."""

    zone: Literal["landing", "staging", "curated", "quarantine"]
    table: Annotated[str, Field(pattern=_TABLE)]
    columns: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")], str] = Field(
        description="column holding raw identifiers → identifier type prefix")


def _default_types() -> tuple[IdentifierType, ...]:
    return (
        IdentifierType(prefix="u", name="user", weight=1.0),
        IdentifierType(prefix="a", name="anon", retention_days=400, weight=0.8),
        IdentifierType(prefix="s", name="session", retention_days=1, weight=0.6),
        IdentifierType(prefix="d", name="device", linkable=False, retention_days=90, weight=0.3),
    )


class IdentitySettings(_Model):
    """The identity graph and its resolution (identity_resolution job, DSAR deletions)."""

    types: tuple[IdentifierType, ...] = Field(
        default_factory=_default_types,
        description="identifier types in priority order: the first present in a row is the "
        "centre its other identifiers are linked to")
    sources: tuple[IdentitySource, ...] = ()
    strategy: Literal["auto", "local", "distributed"] = Field(
        "auto", description="connected components: auto picks local below local_max_edges")
    local_max_edges: int = Field(2_000_000, ge=0, description="largest graph (edges) that "
                                 "the single-machine path takes")
    zone: Literal["staging", "curated"] = Field(
        "staging", description="zone of the identity tables (private: access is audited)")
    dsar_tables: tuple[DsarTable, ...] = Field(
        (), description="tables a DSAR deletion removes the person's rows from")
    vacuum_after_dsar: bool = Field(
        True, description="VACUUM each table after a DSAR delete, and the job's own tables "
        "(requests, identity graph) every run (maintenance retention)")

    @model_validator(mode="after")
    def _types_are_known(self) -> IdentitySettings:
        prefixes = [t.prefix for t in self.types]
        if len(set(prefixes)) != len(prefixes):
            raise ValueError(f"identifier type prefixes must be unique, got {prefixes}")
        used = [p for s in self.sources for p in s.identifiers.values()]
        used += [p for t in self.dsar_tables for p in t.columns.values()]
        unknown = sorted(set(used) - set(prefixes))
        if unknown:
            raise ValueError(f"unknown identifier type prefix(es) {unknown}: expected one of "
                             f"{prefixes}")
        return self


STANDARD_ATTRIBUTES = ("first_name", "last_name", "full_name", "birth_date", "email", "phone",
                       "address", "postcode", "city", "government_id")
SURVIVORSHIP_RULES = ("most_recent", "most_trusted", "most_complete")
BLOCKING_KEYS = ("email", "phone", "first_name", "last_name", "first_name_canonical",
                 "first_name_soundex", "last_name_soundex", "first_initial", "birth_date",
                 "birth_year", "postcode", "postcode_district", "address", "city",
                 "government_id")


class DedupeSource(_Model):
    """A staging table of people records (sign-ups, CRM imports, support updates)."""

    zone: Literal["landing", "staging", "curated"] = "staging"
    table: Annotated[str, Field(pattern=_TABLE, description="table name in the zone")]
    record_id: Annotated[str, Field(pattern=_COLUMN, description="the source record id column")]
    source_system: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = Field(
        None, description="the system every row comes from, named by no other source; or use "
        "system_column")
    system_column: Annotated[str, Field(pattern=_COLUMN)] | None = Field(
        None, description="column naming each row's source system")
    updated_column: Annotated[str, Field(pattern=_COLUMN)] = Field(
        "updated_at", description="when the source record last changed")
    columns: dict[str, Annotated[str, Field(pattern=_COLUMN)]] = Field(
        description="standard attribute → source column; attributes: " + ", ".join(
            STANDARD_ATTRIBUTES))

    @model_validator(mode="after")
    def _system_and_attributes(self) -> DedupeSource:
        if (self.source_system is None) == (self.system_column is None):
            raise ValueError("set exactly one of source_system and system_column")
        unknown = sorted(set(self.columns) - set(STANDARD_ATTRIBUTES))
        if unknown:
            raise ValueError(f"unknown attribute(s) {unknown}: expected some of "
                             f"{list(STANDARD_ATTRIBUTES)}")
        return self


class BlockingRule(_Model):
    """Records whose values of ``keys`` are all present and equal become candidate pairs."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    keys: tuple[Literal[BLOCKING_KEYS], ...] = Field(min_length=1, description="blocking keys")


def _default_blocking() -> tuple[BlockingRule, ...]:
    return (
        BlockingRule(name="email", keys=("email",)),
        BlockingRule(name="phone", keys=("phone",)),
        BlockingRule(name="government_id", keys=("government_id",)),
        BlockingRule(name="surname_birth_year", keys=("last_name_soundex", "birth_year")),
        BlockingRule(name="first_name_birth_date", keys=("first_name_soundex", "birth_date")),
        BlockingRule(name="postcode_initial", keys=("postcode", "first_initial")),
    )


class DedupeThresholds(_Model):
    """Match probability bands (architecture docs: >= 0.95 merge, 0.75-0.94 review)."""

    auto_merge: float = Field(0.95, gt=0, le=1, description="at or above: merged automatically")
    review: float = Field(0.75, gt=0, le=1, description="at or above (below auto_merge): queued "
                          "in potential_duplicates for review")

    @model_validator(mode="after")
    def _ordered(self) -> DedupeThresholds:
        if self.review > self.auto_merge:
            raise ValueError(f"review ({self.review}) must not exceed auto_merge "
                             f"({self.auto_merge})")
        return self


class DedupeSettings(_Model):
    """Master-data deduplication (master_data_dedupe job)."""

    zone: Literal["staging", "curated"] = Field(
        "curated", description="zone of source_identities, potential_duplicates, merge_decisions "
        "and the canonical tables")
    sources: tuple[DedupeSource, ...] = ()
    blocking: tuple[BlockingRule, ...] = Field(default_factory=_default_blocking)
    max_block_size: int = Field(
        500, ge=2, description="a blocking key shared by more records is skipped and reported "
        "(a placeholder value such as a shared office phone would pair everyone)")
    thresholds: DedupeThresholds = DedupeThresholds()
    high_risk: tuple[Literal["government_id", "birth_date"], ...] = Field(
        ("government_id",), description="attributes whose conflicting values send a pair to "
        "review however high its score")
    em_iterations: int = Field(40, ge=1, le=1000, description="EM iterations (m probabilities)")
    u_sample_records: int = Field(
        2000, ge=10, description="records sampled to estimate u probabilities from random pairs")
    phone_country_code: Annotated[str, Field(pattern=r"^[1-9][0-9]{0,2}$")] = Field(
        "44", description="country code stripped from phone numbers before comparing")
    source_trust: tuple[str, ...] = Field(
        (), description="source systems, most trusted first (most_trusted survivorship)")
    survivorship_default: Literal[SURVIVORSHIP_RULES] = "most_recent"
    survivorship: dict[str, Literal[SURVIVORSHIP_RULES]] = Field(
        default_factory=dict, description="attribute → rule, overriding the default")

    @model_validator(mode="after")
    def _known_attributes(self) -> DedupeSettings:
        unknown = sorted(set(self.survivorship) - set(STANDARD_ATTRIBUTES))
        if unknown:
            raise ValueError(f"survivorship: unknown attribute(s) {unknown}: expected some of "
                             f"{list(STANDARD_ATTRIBUTES)}")
        names = [r.name for r in self.blocking]
        if len(set(names)) != len(names):
            raise ValueError(f"blocking rule names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def _one_source_per_fixed_system(self) -> DedupeSettings:
        """Refuse one table listed twice, and two sources naming one fixed ``source_system``.

        A source record is keyed by its source system and record id (``identity_key`` =
        ``<source_system>:<record_id>``): records of two such sources with one record id would
        be taken for one record, the older dropped as an earlier version of the other (and a
        DSAR deletion of one would delete both).

        Not checked, because the values are data: a ``system_column`` source whose rows name
        the fixed ``source_system`` of another source, or two ``system_column`` sources whose
        rows name one system, with record ids in common; or system values holding a ``:``
        (``a:b`` + ``c`` and ``a`` + ``b:c`` make one key). Their records collide the same way.
        """
        tables: dict[tuple[str, str], int] = {}
        for i, source in enumerate(self.sources):
            table = (source.zone, source.table)
            if table in tables:
                raise ValueError(
                    f"sources.{i}: {source.zone}.{source.table} is already sources.{tables[table]}: "
                    "expected each table once (its rows would be read twice, each one taken for "
                    "an older version of itself)")
            tables[table] = i
        first: dict[str, int] = {}
        for i, source in enumerate(self.sources):
            system = source.source_system
            if system is None:
                continue
            if system in first:
                other = self.sources[first[system]]
                raise ValueError(
                    f"sources.{i}.source_system: '{system}' is already the source_system of "
                    f"sources.{first[system]} ({other.zone}.{other.table}): expected a "
                    "source_system no other source names, or a system_column whose values no "
                    "other source uses (a record is keyed by source system and record id: "
                    "records of both tables with one id would be taken for one record, and one "
                    "of them dropped)")
            first[system] = i
        return self

    def rule_for(self, attribute: str) -> str:
        return self.survivorship.get(attribute, self.survivorship_default)


DELTA_MIN_RETENTION_HOURS = 168  # Delta's default safety check: 7 days


class MaintenanceTable(_Model):
    """One Delta table the maintenance job compacts and vacuums."""

    zone: Literal["landing", "staging", "curated", "quarantine", "system"] = Field(
        description="zone of the table")
    name: Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,127}$", description="table name")]
    zorder_by: tuple[str, ...] = Field((), description="cluster rows by these columns (the key)")
    retention_hours: int | None = Field(None, ge=0, description="overrides the default")


class MaintenanceSettings(_Model):
    """The maintenance job: OPTIMIZE (compaction / Z-order) and VACUUM per table."""

    retention_hours: int = Field(DELTA_MIN_RETENTION_HOURS, ge=0,
                                 description="VACUUM keeps files younger than this")
    allow_short_retention: bool = Field(
        False, description="allow retention below 168 h (breaks time travel and readers of "
        "older snapshots; Delta refuses it otherwise)")
    tables: tuple[MaintenanceTable, ...] = ()

    @model_validator(mode="after")
    def _retention_is_safe(self) -> MaintenanceSettings:
        if self.allow_short_retention:
            return self
        shortest = min([self.retention_hours, *[t.retention_hours for t in self.tables
                                                 if t.retention_hours is not None]])
        if shortest < DELTA_MIN_RETENTION_HOURS:
            raise ValueError(f"retention of {shortest} h is below Delta's "
                             f"{DELTA_MIN_RETENTION_HOURS} h: expected >= "
                             f"{DELTA_MIN_RETENTION_HOURS} or allow_short_retention: true")
        return self


class Settings(_Model):
    """Everything a job needs to know about its environment."""

    env: Annotated[str, Field(pattern=ENV_NAME, description="environment name (dev, qa, prod)")]
    lake: LakeSettings = LakeSettings()
    spark: SparkSettings = SparkSettings()
    secrets: SecretsSettings = SecretsSettings()
    tables: TableNames = TableNames()
    validation: ValidationSettings = ValidationSettings()
    curated: CuratedSettings = CuratedSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    streaming: StreamingSettings = StreamingSettings()
    identity: IdentitySettings = IdentitySettings()
    dedupe: DedupeSettings = DedupeSettings()
