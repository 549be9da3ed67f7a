"""AWS Glue / spark-submit entrypoint: identity resolution: graph, components, stable identity ids.

Staging rows → salted identifier nodes and typed edges → connected components (only the touched
identities) → identity_resolution, identity_id_history. Needs LAKEJOBS_IDENTITY_SALT (or the
configured Secrets Manager secret).

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/identity_resolution.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("identity_resolution", sys.argv))
