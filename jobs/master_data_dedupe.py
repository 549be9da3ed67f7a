"""AWS Glue / spark-submit entrypoint: master-data deduplication.

Source people records (dedupe.sources) → source_identities → blocking → Fellegi-Sunter matching
(EM) → review queue (potential_duplicates) and reviewers' merge_decisions → connected components
→ canonical_users, canonical_profiles (versioned, Change Data Feed) and attribute_lineage.

On Glue:    --additional-python-modules <lakejobs wheel> --JOB_NAME ... --env prod
Locally:    spark-submit $(lakejobs submit-args) jobs/master_data_dedupe.py --JOB_NAME x --env dev
Parsing arguments, loading config, running the library function and committing the Glue job all
happen in ``lakejobs.cli.run_entrypoint``, so this script and ``lakejobs run`` behave the same.
"""

import sys

from lakejobs.cli import run_entrypoint

if __name__ == "__main__":
    sys.exit(run_entrypoint("master_data_dedupe", sys.argv))
