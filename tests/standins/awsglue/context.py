from pyspark.sql import SparkSession


class GlueContext:
    """Wraps a SparkContext; ``spark_session`` is the session of that context."""

    def __init__(self, spark_context):
        from awsglue import CALLS

        CALLS.append(("GlueContext",))
        self.spark_session = SparkSession.builder.getOrCreate()
