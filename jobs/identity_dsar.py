"""AWS Glue / spark-submit entrypoint: DSAR deletions (the pending rows of dsar_requests).

Each request: the person's nodes and edges leave the identity graph, their identity is re-split,
their nodes go on the deny-list, a tombstone is written, their rows are deleted from the configured
tables and vacuumed, and dsar_audit records what was removed where.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/identity_dsar.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("identity_dsar", sys.argv))
