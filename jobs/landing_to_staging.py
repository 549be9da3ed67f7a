"""AWS Glue / spark-submit entrypoint: landing → staging validation.

Contracts, rules, good/bad split, quarantine, dq_results and (optionally) GX Data Docs.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/landing_to_staging.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("landing_to_staging", sys.argv))
