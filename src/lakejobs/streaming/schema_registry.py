"""Writer schemas by id, from a Confluent-compatible registry or the AWS Glue Schema Registry.

Both clients answer ``schema(id)`` with the schema text, or None when the registry does not know
the id (its records are quarantined as ``unknown_schema_id``); any other failure raises
:class:`~lakejobs.errors.SchemaRegistryError`, which stops the batch so that it is retried rather
than quarantined for a network fault. Schemas found are cached for the life of the client (a
schema id is immutable); misses are not, so that a registry that was behind answers again on the
next batch. The lookups run on the driver, once per distinct id of a batch.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, Protocol

from lakejobs.config import SecretRef
from lakejobs.errors import ConfigError, SchemaRegistryError, SecretError
from lakejobs.secrets import read_secret

log = logging.getLogger(__name__)

# Confluent's error code for "schema not found" (HTTP 404 has other codes, e.g. unknown subject).
SCHEMA_NOT_FOUND = 40403


class SchemaLookup(Protocol):
    """What the Avro decoder needs from a registry."""

    def schema(self, schema_id: Any, /) -> str | None:
        """The writer schema's text, or None when the registry does not know the id."""
        ...


class _Cache:
    """Found schemas by id; the lock makes each id fetched once even if threads ask together."""

    def __init__(self) -> None:
        self._schemas: dict[Any, str] = {}
        self._lock = threading.Lock()

    def get(self, schema_id: Any, fetch: Callable[[Any], str | None]) -> str | None:
        with self._lock:
            if schema_id not in self._schemas:
                found = fetch(schema_id)
                if found is None:
                    return None
                self._schemas[schema_id] = found
            return self._schemas[schema_id]


class ConfluentRegistry:
    """Client of the Confluent Schema Registry REST API (``GET /schemas/ids/{id}``).

    Args:
        url: base URL, e.g. ``https://registry.internal:8081``; no credentials in it.
        auth_env: environment variable holding ``user:password`` for basic auth, read at each
            request (so a rotated secret is picked up); None: no authentication.
        timeout_s: seconds to wait for each answer.

    Raises:
        ConfigError: the URL is not http(s) or carries credentials.
    """

    def __init__(self, url: str, *, auth_env: str | None = None, timeout_s: float = 10) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"schema registry 'url' {url!r}: expected http(s)://host[:port]")
        if parts.username or parts.password:
            # a URL gets logged and put in error messages: credentials go in auth_env
            raise ConfigError("schema registry 'url' carries credentials: name an environment "
                              "variable holding 'user:password' in 'auth_env' instead")
        self.url = url.rstrip("/")
        self.auth_env = auth_env
        self.timeout_s = timeout_s
        self._cache = _Cache()

    def schema(self, schema_id: int) -> str | None:
        """The writer schema with this id, or None when the registry answers 40403.

        Raises:
            SchemaRegistryError: the registry cannot be reached, refuses the request, redirects
                it (never followed: it would carry the credentials elsewhere) or answers
                something else than a schema. The message names the URL and the id.
            SecretError: ``auth_env`` is not set or not ``user:password``.
        """
        return self._cache.get(int(schema_id), self._fetch)

    def _fetch(self, schema_id: int) -> str | None:
        address = f"{self.url}/schemas/ids/{schema_id}"
        request = urllib.request.Request(address, headers=self._headers())
        log.debug("fetching schema %s from %s", schema_id, address)
        try:
            with _OPENER.open(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as e:
            if e.code == 404 and _error_code(e) == SCHEMA_NOT_FOUND:
                return None
            raise SchemaRegistryError(
                f"schema registry {address} answered HTTP {e.code} ({e.reason}) for schema id "
                f"{schema_id}"
            ) from e
        except (urllib.error.URLError, OSError) as e:
            raise SchemaRegistryError(
                f"schema registry {address} cannot be reached for schema id {schema_id}: {e}"
            ) from e
        try:
            schema = json.loads(body)["schema"]
        except (ValueError, KeyError, TypeError):
            schema = None
        if not isinstance(schema, str):
            raise SchemaRegistryError(f"schema registry {address}: expected a JSON object with a "
                                      f"'schema' string for schema id {schema_id}")
        return schema

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.schemaregistry.v1+json, application/json"}
        if self.auth_env is not None:
            credentials = read_secret(SecretRef(provider="env", name=self.auth_env))
            if ":" not in credentials:
                raise SecretError(f"environment variable {self.auth_env}: expected "
                                  "'user:password' for the schema registry")
            token = base64.b64encode(credentials.encode("utf-8")).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        return headers


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Fail on any redirect: urllib would follow one to another host or scheme and send the
    Basic-auth ``Authorization`` header there too, and a registry has no need to redirect."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> urllib.request.Request | None:
        fp.close()
        raise SchemaRegistryError(
            f"schema registry {req.full_url} answered HTTP {code} ({msg}), a redirect to "
            f"{newurl}: not followed, so that the credentials stay with the registry (set "
            "'url' to the registry itself)")


_OPENER = urllib.request.build_opener(_RefuseRedirects)


def _error_code(error: urllib.error.HTTPError) -> int | None:
    try:
        code = json.loads(error.read())["error_code"]
    except (ValueError, KeyError, TypeError, OSError):
        return None
    return code if isinstance(code, int) else None


class GlueRegistry:
    """Writer schemas from the AWS Glue Schema Registry, by schema version id (a UUID).

    Args:
        client: a boto3 Glue client (``boto3.client("glue", region_name=...)``).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self._cache = _Cache()

    def schema(self, version_id: str) -> str | None:
        """The schema definition of this schema version, or None when Glue does not know it.

        Raises:
            SchemaRegistryError: Glue cannot be reached or refuses the request.
        """
        return self._cache.get(version_id, self._fetch)

    def _fetch(self, version_id: str) -> str | None:
        # botocore comes with the 'aws' extra, which only Glue-registry users need
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_schema_version(SchemaVersionId=version_id)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return None
            raise SchemaRegistryError(
                f"Glue Schema Registry: get_schema_version failed for schema version "
                f"{version_id}: {e}") from e
        except BotoCoreError as e:
            raise SchemaRegistryError(
                f"Glue Schema Registry cannot be reached for schema version {version_id}: {e}"
            ) from e
        schema = response.get("SchemaDefinition")
        if not isinstance(schema, str):
            raise SchemaRegistryError(
                f"Glue Schema Registry: schema version {version_id} has no SchemaDefinition")
        return schema
