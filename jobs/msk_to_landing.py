"""AWS Glue (streaming) / spark-submit entrypoint: Kafka (Amazon MSK) → landing zone.

Debezium CDC, event envelopes, Avro and JSON records decoded, routed by the contract manifest,
deduplicated, quarantined with a reason, landed exactly once per micro-batch.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/msk_to_landing.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("msk_to_landing", sys.argv))
