"""Read secrets (hash salts, credentials) from environment variables or AWS Secrets Manager.

Only references live in config; values are read here at run time and never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from lakejobs.config import SecretRef
from lakejobs.errors import SecretError


def read_secret(
    ref: SecretRef, *, region: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The value of one secret.

    Raises:
        SecretError: the variable or secret is missing or empty. The message names the
            reference, never a value.
    """
    if ref.provider == "env":
        value = (os.environ if environ is None else environ).get(ref.name, "")
        if not value:
            raise SecretError(f"environment variable {ref.name} is not set (expected a secret)")
    else:
        value = _from_secrets_manager(ref.name, region)
    if ref.json_key is not None:
        value = _json_field(value, ref)
    return value


def _from_secrets_manager(secret_id: str, region: str | None) -> str:
    import boto3  # imported lazily: only the secretsmanager provider needs it
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        response = boto3.client("secretsmanager", region_name=region).get_secret_value(
            SecretId=secret_id
        )
    except (ClientError, BotoCoreError) as e:
        raise SecretError(f"secret {secret_id!r} cannot be read from Secrets Manager ({e})") from None
    value = response.get("SecretString") or ""
    if not value:
        raise SecretError(f"secret {secret_id!r} has no SecretString (expected text)")
    return value


def _json_field(value: str, ref: SecretRef) -> str:
    try:
        field = json.loads(value)[ref.json_key]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise SecretError(
            f"secret {ref.name!r}: expected a JSON object with the key {ref.json_key!r}"
        ) from None
    if not isinstance(field, str) or not field:
        raise SecretError(f"secret {ref.name!r}: key {ref.json_key!r} must be a non-empty string")
    return field
