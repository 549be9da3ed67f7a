"""AWS Glue / spark-submit entrypoint: table maintenance.

OPTIMIZE (compaction, Z-order by key) and VACUUM with the retention from config.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/maintenance.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("maintenance", sys.argv))
