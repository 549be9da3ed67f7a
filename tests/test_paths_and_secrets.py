"""Lake locations, name validation and secrets."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from lakejobs.config import LakeSettings, SecretRef
from lakejobs.errors import InvalidNameError, SecretError
from lakejobs.paths import LakePaths, validate_name
from lakejobs.secrets import read_secret


@pytest.mark.parametrize("name", ["../etc", "a/b", "orders;drop", "", "Orders", "x" * 129, "orders\n"])
def test_unsafe_table_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid table name"):
        validate_name(name, "table")


@pytest.mark.parametrize("name", ["retail.customer.cdc", "web-events_v2"])
def test_kafka_topic_names_are_accepted_as_topics(name: str) -> None:
    assert validate_name(name, "topic") == name


@pytest.mark.parametrize("name", ["..", "a/../b", "a/b", "retail.cdc\n"])
def test_topic_names_cannot_climb_folders(name: str) -> None:
    with pytest.raises(InvalidNameError):
        validate_name(name, "topic")


def test_relative_lake_root_resolves_against_the_working_directory(tmp_path: Path) -> None:
    paths = LakePaths(LakeSettings(root="lake"), cwd=tmp_path)
    assert paths.table("staging", "customers") == f"{tmp_path}/lake/staging/customers"


def test_client_prefix_puts_tables_under_clients_folder() -> None:
    paths = LakePaths(LakeSettings(root="s3://retail-datalake-prod", client="acme"))
    assert paths.table("curated", "dim_customer") == (
        "s3://retail-datalake-prod/clients/acme/curated/dim_customer"
    )
    assert paths.zone("system") == "s3://retail-datalake-prod/clients/acme/_lakejobs"


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(InvalidNameError, match="unknown zone 'bronze'"):
        LakePaths(LakeSettings(root="/lake")).zone("bronze")


def test_env_secret_is_read_from_the_environment() -> None:
    ref = SecretRef(provider="env", name="SALT")
    assert read_secret(ref, environ={"SALT": "pepper"}) == "pepper"


def test_missing_env_secret_names_the_variable() -> None:
    with pytest.raises(SecretError, match="^environment variable SALT is not set"):
        read_secret(SecretRef(provider="env", name="SALT"), environ={})


@mock_aws
def test_secrets_manager_json_field_is_read() -> None:
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    client.create_secret(Name="lakejobs/prod/identity", SecretString=json.dumps({"salt": "s3cr3t"}))
    ref = SecretRef(provider="secretsmanager", name="lakejobs/prod/identity", json_key="salt")
    assert read_secret(ref, region="eu-west-1") == "s3cr3t"


@mock_aws
def test_secrets_manager_errors_never_include_the_value() -> None:
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    client.create_secret(Name="lakejobs/prod/identity", SecretString=json.dumps({"other": "s3cr3t"}))
    ref = SecretRef(provider="secretsmanager", name="lakejobs/prod/identity", json_key="salt")
    with pytest.raises(SecretError) as err:
        read_secret(ref, region="eu-west-1")
    assert "s3cr3t" not in str(err.value)
    assert "expected a JSON object with the key 'salt'" in str(err.value)


@mock_aws
def test_missing_secrets_manager_secret_is_a_secret_error() -> None:
    ref = SecretRef(provider="secretsmanager", name="nope")
    with pytest.raises(SecretError, match="secret 'nope' cannot be read from Secrets Manager"):
        read_secret(ref, region="eu-west-1")
