"""AWS Glue / spark-submit entrypoint: quarantine replay.

Re-validates quarantined records of --table after a contract or rule fix.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/replay_quarantine.py --JOB_NAME x --env dev
            --table orders
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("replay_quarantine", sys.argv))
