"""The Kafka (Amazon MSK) source of the streaming job: subscription, offsets and security.

Credentials are read at run time from their references (environment or Secrets Manager) and go
straight into the Kafka client options; they are never logged (:func:`redacted` is what logs).
MSK IAM needs the ``software.amazon.msk:aws-msk-iam-auth`` jar on the classpath (the Glue job
definition adds it with ``--extra-jars``).
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession

from lakejobs.config import KafkaSecurity, StreamingSettings
from lakejobs.config.models import starting_offsets_problem, starting_offsets_spec
from lakejobs.errors import ConfigError
from lakejobs.paths import validate_name
from lakejobs.secrets import read_secret

MSK_IAM_JAR = "software.amazon.msk:aws-msk-iam-auth:2.2.0"
_SECRET_OPTIONS = ("kafka.sasl.jaas.config",)


def security_options(security: KafkaSecurity, *, region: str | None = None,
                     environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Kafka client options (``kafka.``-prefixed, as Spark's source takes them) for a protocol."""
    if security.protocol == "plaintext":
        return {"kafka.security.protocol": "PLAINTEXT"}
    tls = {"kafka.security.protocol": "SSL"}
    if security.truststore_location:
        tls["kafka.ssl.truststore.location"] = security.truststore_location
    if security.protocol == "tls":
        return tls
    sasl = {**tls, "kafka.security.protocol": "SASL_SSL"}
    if security.protocol == "sasl_scram":
        assert security.username is not None and security.password is not None  # validated
        user = read_secret(security.username, region=region, environ=environ)
        password = read_secret(security.password, region=region, environ=environ)
        return {
            **sasl,
            "kafka.sasl.mechanism": security.scram_mechanism,
            "kafka.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{_jaas_quote(user)}" password="{_jaas_quote(password)}";'
            ),
        }
    return {  # msk_iam: credentials come from the job's IAM role, nothing to read
        **sasl,
        "kafka.sasl.mechanism": "AWS_MSK_IAM",
        "kafka.sasl.jaas.config": "software.amazon.msk.auth.iam.IAMLoginModule required;",
        "kafka.sasl.client.callback.handler.class":
            "software.amazon.msk.auth.iam.IAMClientCallbackHandler",
    }


def source_options(settings: StreamingSettings, topics: tuple[str, ...], *,
                   region: str | None = None,
                   environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every option of the Kafka source: servers, subscription, offsets, limits, security.

    Raises:
        ConfigError: ``starting_offsets`` is a JSON spec whose topics are not ``topics`` (config
            validation checks it against ``streaming.topics``; read from the manifest, the topics
            are known only here).
    """
    options = {
        "kafka.bootstrap.servers": settings.bootstrap_servers,
        "startingOffsets": settings.starting_offsets,
        "failOnDataLoss": str(settings.fail_on_data_loss).lower(),
        "includeHeaders": "false",
    }
    if settings.topic_pattern:
        options["subscribePattern"] = settings.topic_pattern
    else:
        spec = starting_offsets_spec(settings.starting_offsets)  # validated with the settings
        problem = starting_offsets_problem(spec, topics) if spec is not None else None
        if problem:
            raise ConfigError(f"streaming.starting_offsets: {problem}"
                              + ("" if settings.topics else " (streaming.topics is empty: the "
                                 "manifest's topics are read)"))
        options["subscribe"] = ",".join(validate_name(t, "topic") for t in topics)
    if settings.max_offsets_per_trigger is not None:
        options["maxOffsetsPerTrigger"] = str(settings.max_offsets_per_trigger)
    options.update(security_options(settings.security, region=region, environ=environ))
    return options


def redacted(options: Mapping[str, str]) -> dict[str, str]:
    """The options with credentials masked, for logs."""
    return {k: ("***" if k in _SECRET_OPTIONS and "username=" in v else v)
            for k, v in options.items()}


def read_kafka_stream(spark: SparkSession, options: Mapping[str, str]) -> DataFrame:
    """The streaming DataFrame of Kafka records (key, value, topic, partition, offset, …)."""
    return spark.readStream.format("kafka").options(**options).load()


def _jaas_quote(value: str) -> str:
    """``value`` inside a JAAS quoted string. Kafka's parser (Java's ``StreamTokenizer``) ends a
    quoted string at a line break, so a secret saved with a trailing newline broke the config and
    the error quoted what followed it: control characters go as octal escapes, which it decodes."""
    quoted = []
    for ch in value:
        if ch in '\\"':
            quoted.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            quoted.append(f"\\{ord(ch):03o}")
        else:
            quoted.append(ch)
    return "".join(quoted)
