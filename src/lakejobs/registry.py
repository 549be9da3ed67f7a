"""The jobs lakejobs can run, by name. Each ``jobs/<name>.py`` entrypoint runs one of these."""

from __future__ import annotations

from lakejobs.errors import UnknownJobError
from lakejobs.runtime import JobSpec


def all_jobs() -> dict[str, JobSpec]:
    """Every registered job, by name."""
    from lakejobs import maintenance
    from lakejobs.batch import landing_to_staging, replay, sample_customers
    from lakejobs.curated import staging_to_curated
    from lakejobs.identity import dedupe, dsar, resolution
    from lakejobs.streaming import msk_to_landing

    specs = [
        JobSpec(
            name="msk_to_landing",
            summary="Kafka (MSK) → landing: Debezium, envelopes, Avro, JSON decoded, routed by "
            "the manifest, deduplicated, quarantined with a reason, landed exactly once",
            run=msk_to_landing.run,
            optional={"records_path": "read Kafka records from the Parquet files under this "
                      "path instead of the brokers (local runs without Kafka, the demo)",
                      "bootstrap_servers": "Kafka bootstrap servers instead of the config's "
                      "streaming.bootstrap_servers"},
            # duplicates are counted, neither landed nor quarantined: each batch checks
            # in = landed + quarantined + duplicates itself
            conserves_rows=False,
        ),
        JobSpec(
            name="sample_pipeline",
            summary="landing → staging sample: conform customers, quarantine bad rows",
            run=sample_customers.run,
        ),
        JobSpec(
            name="landing_to_staging",
            summary="landing → staging: contracts, rules, good/bad split, dq_results, Data Docs",
            run=landing_to_staging.run,
            optional={"table": "validate only this configured table"},
        ),
        JobSpec(
            name="staging_to_curated",
            summary="staging → curated: SCD dimensions, facts with point-in-time keys, "
            "engagement, integrity check, catalog",
            run=staging_to_curated.run,
            # versions and aggregates are not 1:1 with staging rows; conservation is checked
            # per stage inside the job instead
            conserves_rows=False,
        ),
        JobSpec(
            name="identity_resolution",
            summary="identity graph from staging rows (salted hashes, typed edges, retention), "
            "connected components, stable identity ids, confidence scores",
            run=resolution.run,
            optional={"full": "true: recompute every identity instead of the touched ones",
                      "as_of": "resolve the graph as of this ISO-8601 time (default: now)"},
            # rows without any identifier are counted, neither stored nor quarantined; the job
            # checks rows = linked + single + without identifier per source itself
            conserves_rows=False,
        ),
        JobSpec(
            name="identity_dsar",
            summary="DSAR deletions from dsar_requests: nodes and edges removed, identity "
            "re-split, deny-list, tombstone, rows deleted and vacuumed, audit",
            run=dsar.run,
            optional={"as_of": "resolve the re-split identities as of this ISO-8601 time"},
        ),
        JobSpec(
            name="master_data_dedupe",
            summary="master data: source identities, blocking, Fellegi-Sunter (EM) matching, "
            "review queue and decisions, canonical users and profiles with attribute lineage",
            run=dedupe.run,
            optional={"full": "true: recompute even when no source table, review decision, "
                              "master-data table or setting changed since the last run"},
            # older versions of a source record are counted, neither kept nor quarantined; the
            # job checks rows = identities + older versions + quarantined itself
            conserves_rows=False,
        ),
        JobSpec(
            name="replay_quarantine",
            summary="re-validate quarantined records after a contract or rule fix; mark them",
            run=replay.run,
            required=("table",),
        ),
        JobSpec(
            name="maintenance",
            summary="OPTIMIZE (compaction, Z-order) and VACUUM of the configured tables",
            run=maintenance.run,
        ),
    ]
    return {spec.name: spec for spec in specs}


def get_job(name: str) -> JobSpec:
    """The job registered as ``name``.

    Raises:
        UnknownJobError: no such job.
    """
    jobs = all_jobs()
    if name not in jobs:
        raise UnknownJobError(f"unknown job {name!r}: expected one of {', '.join(sorted(jobs))}")
    return jobs[name]
