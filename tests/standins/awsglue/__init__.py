"""Stand-in for AWS Glue's ``awsglue`` package, injected by tests only.

AWS does not publish awsglue on the public index. This stand-in mirrors the few calls lakejobs
makes (``getResolvedOptions``, ``GlueContext.spark_session``, ``Job.init``/``Job.commit``) and
records them in ``CALLS`` so tests can check what the Glue path did.
"""

CALLS: list[tuple] = []
