"""AWS Glue / spark-submit entrypoint: staging → curated star schemas.

SCD dimensions, facts with point-in-time keys and inferred members, engagement, integrity, catalog.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/staging_to_curated.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("staging_to_curated", sys.argv))
