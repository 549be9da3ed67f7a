"""Config files load into typed settings; every mistake is one line naming file, key, expectation."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lakejobs.config import SecretRef, load_settings, settings_from_mapping
from lakejobs.errors import ConfigError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "dev.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("env", ["dev", "qa", "prod"])
def test_bundled_environments_load(env: str) -> None:
    settings = load_settings(env, environ={})
    assert settings.env == env


def test_dev_defaults_to_a_local_lake_and_a_small_session() -> None:
    settings = load_settings("dev", environ={})
    assert settings.lake.root == "lake"
    assert settings.spark.shuffle_partitions == 4
    assert settings.spark.ui_enabled is False
    assert settings.secrets.identity_salt == SecretRef(provider="env", name="LAKEJOBS_IDENTITY_SALT")


def test_prod_reads_its_salt_reference_from_secrets_manager() -> None:
    settings = load_settings("prod", environ={})
    assert settings.lake.root == "s3://retail-datalake-prod"
    assert settings.secrets.identity_salt == SecretRef(
        provider="secretsmanager", name="lakejobs/prod/identity", json_key="salt"
    )


def test_unknown_key_names_file_key_and_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "spark:\n  shufle_partitions: 8\n")
    with pytest.raises(ConfigError) as err:
        load_settings("dev", path, environ={})
    assert str(err.value) == (
        f"{path}: spark.shufle_partitions: unknown key (expected one of: master, app_name, "
        "shuffle_partitions, ui_enabled, driver_memory, session_time_zone, jars_cache, conf, "
        "tiny_tables, table_threads)"
    )


@pytest.mark.parametrize(("text", "message"), [
    ("identity:\n  types:\n    - {prefix: u, name: user, wieght: 1.0}\n",
     "identity.types.0.wieght: unknown key (expected one of: prefix, name, linkable, "
     "retention_days, weight)"),
    ("streaming:\n  schema_registry: {url: 'http://registry', auth: basic}\n",
     "streaming.schema_registry.auth: unknown key (expected one of: url, auth_env)"),
])
def test_unknown_keys_in_list_items_and_optional_sections_list_the_allowed_keys(
        tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings("dev", path, environ={})
    assert str(err.value) == f"{path}: {message}"


def test_unknown_top_level_section_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "sparks: {}\n")
    with pytest.raises(ConfigError, match=r"dev.yaml: sparks: unknown key \(expected one of: env, "):
        load_settings("dev", path, environ={})


def test_wrong_type_names_file_key_expected_type_and_value(tmp_path: Path) -> None:
    path = write(tmp_path, "spark:\n  shuffle_partitions: four\n")
    with pytest.raises(ConfigError) as err:
        load_settings("dev", path, environ={})
    assert str(err.value) == (
        f"{path}: spark.shuffle_partitions: expected a valid integer, unable to parse string "
        "as an integer, got 'four'"
    )


def test_several_problems_are_reported_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "spark:\n  shuffle_partitions: 0\n  ui_enabled: maybe\n")
    with pytest.raises(ConfigError) as err:
        load_settings("dev", path, environ={})
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: spark.shuffle_partitions: expected greater than or equal")
    assert message.endswith("(and 1 more problem(s))")


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "spark:\n  master: [local\n")
    with pytest.raises(ConfigError, match=r"dev.yaml: expected valid YAML \(line 3, column 1\)"):
        load_settings("dev", path, environ={})


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections at the top level, got list"):
        load_settings("dev", path, environ={})


def test_env_in_file_must_match_requested_env(tmp_path: Path) -> None:
    path = write(tmp_path, "env: prod\n")
    with pytest.raises(ConfigError, match=r"env: expected 'dev' \(the requested environment\), got 'prod'"):
        load_settings("dev", path, environ={})


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=f"^{missing}: file not found$"):
        load_settings("dev", missing, environ={})


def test_a_file_that_is_not_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_bytes(b"env: dev\nlake:\n  root: /lake/caf\xe9\n")  # Latin-1, not UTF-8
    with pytest.raises(ConfigError) as err:
        load_settings("dev", str(path), environ={})
    assert str(err.value) == (f"{path}: expected UTF-8 text, found byte 0xe9 that is not UTF-8 "
                              "(line 3); save the file as UTF-8")


def test_a_utf8_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "dev.yaml"
    path.write_bytes("\ufeffenv: dev\nlake:\n  client: acme\n".encode())
    assert load_settings("dev", str(path), environ={}).lake.client == "acme"


def test_a_folder_given_as_the_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings("dev", str(tmp_path), environ={})
    assert str(err.value) == f"{tmp_path}: is a folder: expected a file"


def test_unknown_environment_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings("stage", environ={})
    assert str(err.value) == (
        "no configuration for environment 'stage': expected one of dev, prod, qa "
        "(or pass --config PATH)"
    )


def test_environment_variable_overrides_a_value() -> None:
    settings = load_settings(
        "dev",
        environ={"LAKEJOBS__SPARK__SHUFFLE_PARTITIONS": "16", "LAKEJOBS__LAKE__CLIENT": "acme"},
    )
    assert settings.spark.shuffle_partitions == 16
    assert settings.lake.client == "acme"


def test_bad_override_names_the_variable() -> None:
    with pytest.raises(ConfigError) as err:
        load_settings("dev", environ={"LAKEJOBS__SPARK__UI_ENABLED": "sometimes"})
    assert str(err.value) == (
        "LAKEJOBS__SPARK__UI_ENABLED: spark.ui_enabled: expected a valid boolean, "
        "unable to interpret input, got 'sometimes'"
    )


def test_credentials_in_spark_conf_are_refused() -> None:
    with pytest.raises(ConfigError, match="'spark.hadoop.fs.s3a.secret.key' looks like a credential"):
        settings_from_mapping(
            {"spark": {"conf": {"spark.hadoop.fs.s3a.secret.key": "abc"}}},
            source="dev.yaml", env="dev", environ={},
        )


def test_lake_root_must_be_a_folder_or_s3() -> None:
    with pytest.raises(ConfigError, match=r"lake.root: expected a local folder or an s3:// URI, got 'hdfs://nn/lake'"):
        settings_from_mapping({"lake": {"root": "hdfs://nn/lake"}}, source="dev.yaml", env="dev",
                              environ={})


def test_client_name_is_validated() -> None:
    with pytest.raises(ConfigError, match=r"dev.yaml: lake.client: expected a string matching '\^\[a-z0-9\]"):
        settings_from_mapping({"lake": {"client": "../other"}}, source="dev.yaml", env="dev",
                              environ={})


@mock_aws
def test_config_can_be_read_from_s3() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="conf-bucket")
    s3.put_object(Bucket="conf-bucket", Key="lakejobs/qa.yaml",
                  Body=b"env: qa\nlake:\n  root: s3://lake-qa\n  client: acme\n")
    settings = load_settings("qa", "s3://conf-bucket/lakejobs/qa.yaml", environ={})
    assert (settings.lake.root, settings.lake.client) == ("s3://lake-qa", "acme")


@mock_aws
def test_an_s3_config_that_is_not_utf8_is_a_config_error() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="conf-bucket")
    s3.put_object(Bucket="conf-bucket", Key="qa.yaml", Body=b"env: qa\x00\xff\n")
    with pytest.raises(ConfigError) as err:
        load_settings("qa", "s3://conf-bucket/qa.yaml", environ={})
    assert str(err.value) == ("s3://conf-bucket/qa.yaml: expected UTF-8 text, found byte 0xff "
                              "that is not UTF-8 (line 1); save the file as UTF-8")


@mock_aws
def test_missing_s3_config_is_a_config_error() -> None:
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="conf-bucket")
    with pytest.raises(ConfigError, match=r"^s3://conf-bucket/nope.yaml: cannot be read from S3"):
        load_settings("qa", "s3://conf-bucket/nope.yaml", environ={})


@pytest.mark.parametrize(("yaml", "message"), [
    ("dedupe:\n  thresholds: {auto_merge: 0.8, review: 0.9}\n",
     r"dev.yaml: dedupe.thresholds: review \(0.9\) must not exceed auto_merge \(0.8\)"),
    ("dedupe:\n  survivorship: {shoe_size: most_recent}\n",
     r"dev.yaml: dedupe: survivorship: unknown attribute\(s\) \['shoe_size'\]"),
    ("dedupe:\n  sources: [{table: people, record_id: id, columns: {email: email}}]\n",
     r"dev.yaml: dedupe.sources.0: set exactly one of source_system and system_column"),
    ("dedupe:\n  blocking: [{name: b, keys: [shoe_size]}]\n",
     r"dev.yaml: dedupe.blocking.0.keys.0: expected 'email', 'phone', .* got 'shoe_size'"),
])
def test_dedupe_config_errors_name_the_key_and_what_is_expected(
    tmp_path: Path, yaml: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings("dev", write(tmp_path, yaml), environ={})


def test_the_shipped_configs_load_with_dedupe_sources() -> None:
    for env in ("dev", "qa", "prod"):
        settings = load_settings(env, str(Path(__file__).parent.parent / "conf" / f"{env}.yaml"),
                                 environ={})
        assert [s.table for s in settings.dedupe.sources] == ["people", "customers"]


ORDERS_ROUTE = "routes:\n  - {name: orders, format: json, topics: [shop.orders], target: orders,\n"


@pytest.mark.parametrize(("load", "text", "message"), [
    ("manifest", ORDERS_ROUTE + "     columns: [{name: id, type: bigintt}]}\n",
     "routes.0.columns.0.type: expected a Spark SQL type: string, boolean, tinyint, smallint, "
     "int, bigint, float, double, date, timestamp, binary or decimal(p,s), got 'bigintt'"),
    ("manifest", ORDERS_ROUTE + "     columns: [{name: id, type: bigint}], tier: pii}\n",
     "routes.0.tier: unknown key"),
    ("rules", "table: orders\nrules:\n  - {id: one, check: uniq, columns: [id]}\n",
     "rules[0] (rule 'one').check: expected one of 'not_null', 'between', 'in_set', 'regex', "
     "'length', 'sql', 'unique', 'references', 'row_count', 'aggregate', 'freshness', "
     "got 'uniq'"),
], ids=["manifest_type", "manifest_unknown_key", "rule_check"])
def test_documents_kept_as_data_report_problems_in_the_same_words(
        tmp_path: Path, load: str, text: str, message: str) -> None:
    """A manifest and a rules file name the key, what was expected and the value found."""
    from lakejobs.batch.suites import load_rules
    from lakejobs.streaming.manifest import load_manifest

    path = tmp_path / f"{load}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        {"manifest": load_manifest, "rules": load_rules}[load](str(path))
    assert str(err.value) == f"{path}: {message}"


def test_topics_and_a_topic_pattern_together_are_refused(tmp_path: Path) -> None:
    """Kafka subscribes by one of them: the list was silently ignored."""
    path = write(tmp_path, "streaming:\n  topics: [retail.order.cdc]\n"
                           "  topic_pattern: 'retail\\..*'\n")
    with pytest.raises(ConfigError) as err:
        load_settings("dev", path, environ={})
    assert str(err.value) == (
        f"{path}: streaming: topics and topic_pattern are both set: expected one of them (a "
        "list of topics, or a pattern)")
