"""Kafka source options from config: subscription, offsets, limits and each security protocol."""

from __future__ import annotations

import pytest

from lakejobs.config import StreamingSettings
from lakejobs.errors import InvalidNameError
from lakejobs.streaming.kafka_source import redacted, source_options


def settings(**values: object) -> StreamingSettings:
    return StreamingSettings.model_validate({"bootstrap_servers": "b-1:9096", **values})


def test_plaintext_subscription_offsets_and_limits() -> None:
    options = source_options(settings(starting_offsets="latest", max_offsets_per_trigger=1000),
                             ("retail.customer.cdc", "analytics.events"))

    assert options == {
        "kafka.bootstrap.servers": "b-1:9096", "subscribe": "retail.customer.cdc,analytics.events",
        "startingOffsets": "latest", "maxOffsetsPerTrigger": "1000", "failOnDataLoss": "true",
        "includeHeaders": "false", "kafka.security.protocol": "PLAINTEXT"}


def test_a_pattern_subscribes_by_pattern() -> None:
    options = source_options(settings(topic_pattern=r"retail\..*\.cdc"), ())

    assert options["subscribePattern"] == r"retail\..*\.cdc"
    assert "subscribe" not in options


def test_tls_uses_the_configured_truststore() -> None:
    options = source_options(settings(security={"protocol": "tls",
                                                "truststore_location": "/etc/kafka.jks"}), ("t",))

    assert options["kafka.security.protocol"] == "SSL"
    assert options["kafka.ssl.truststore.location"] == "/etc/kafka.jks"


def test_scram_reads_credentials_from_the_environment_and_never_logs_them() -> None:
    streaming = settings(security={"protocol": "sasl_scram",
                                   "username": {"name": "MSK_USER"},
                                   "password": {"name": "MSK_PASSWORD"}})

    options = source_options(streaming, ("t",), environ={"MSK_USER": "ingest",
                                                        "MSK_PASSWORD": 's3"cret'})

    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "SCRAM-SHA-512"
    assert options["kafka.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="ingest" password="s3\\"cret";')
    assert "s3" not in str(redacted(options))


def test_msk_iam_uses_the_aws_login_module() -> None:
    options = source_options(settings(security={"protocol": "msk_iam"}), ("t",))

    assert options["kafka.sasl.mechanism"] == "AWS_MSK_IAM"
    assert options["kafka.sasl.jaas.config"] == (
        "software.amazon.msk.auth.iam.IAMLoginModule required;")
    assert options["kafka.sasl.client.callback.handler.class"] == (
        "software.amazon.msk.auth.iam.IAMClientCallbackHandler")


def test_scram_without_credentials_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="sasl_scram needs 'username' and 'password'"):
        settings(security={"protocol": "sasl_scram"})


def test_a_topic_that_is_not_a_safe_name_is_refused() -> None:
    with pytest.raises(InvalidNameError, match="invalid topic name"):
        source_options(settings(), ("../../etc",))


@pytest.mark.parametrize("password", ['s3"cret\\x', "hunter2\nTAIL", "secret\r\n", "tab\there"])
def test_scram_secrets_with_quotes_and_line_breaks_reach_kafka_intact(spark, password) -> None:
    streaming = settings(security={"protocol": "sasl_scram", "username": {"name": "MSK_USER"},
                                   "password": {"name": "MSK_PASSWORD"}})
    jaas = source_options(streaming, ("t",), environ={"MSK_USER": "ingest",
                                                      "MSK_PASSWORD": password})

    # parsed by Kafka's own JAAS parser, as the client does
    assert kafka_login_options(spark, jaas["kafka.sasl.jaas.config"]) == {
        "username": "ingest", "password": password}


def kafka_login_options(spark, text: str) -> dict[str, str]:
    """The login options Kafka's client reads from ``sasl.jaas.config`` (JaasContext, through
    reflection: Spark loads the Kafka jars in a class loader py4j does not search)."""
    jvm = spark.sparkContext._jvm
    gateway = spark.sparkContext._gateway
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()

    def kafka_class(name: str):
        return jvm.java.lang.Class.forName(f"org.apache.kafka.common.{name}", True, loader)

    def objects(*values):
        array = gateway.new_array(jvm.java.lang.Object, len(values))
        for i, value in enumerate(values):
            array[i] = value
        return array

    password = kafka_class("config.types.Password").getConstructors()[0].newInstance(
        objects(text))
    configs = jvm.java.util.HashMap()
    configs.put("sasl.jaas.config", password)
    types = gateway.new_array(jvm.java.lang.Class, 1)
    types[0] = jvm.java.lang.Class.forName("java.util.Map")
    load = kafka_class("security.JaasContext").getMethod("loadClientContext", types)
    context = load.invoke(None, objects(configs))
    return dict(context.configurationEntries().get(0).getOptions())
