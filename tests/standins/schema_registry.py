"""Stand-in for a Confluent-compatible schema registry, for tests only.

Confluent's Schema Registry is not on Maven Central or PyPI (io.confluent artifacts are served
from Confluent's own repository, which cannot be reached here) and Karapace is not on PyPI. This
stand-in serves, over real HTTP on 127.0.0.1, only the documented endpoints lakejobs and its
tests use, with the registry's status codes and error bodies:

- ``POST /subjects/{subject}/versions`` with ``{"schema": "..."}``: ``{"id": n}``; the same
  schema (compared as parsed JSON) gets the same id under any subject.
- ``GET /schemas/ids/{id}``: ``{"schema": "..."}``, or 404 with error code 40403; an id that is
  not a Java int (Confluent declares the path parameter ``Integer``) gets Jersey's plain 404,
  error code 404.
- ``GET /subjects``: the subject names.

With ``credentials="user:password"`` every request needs that HTTP basic auth (401 otherwise).
``requests`` records each request as ``(method, path)`` so tests can check caching;
``fail_with`` makes every request answer that HTTP status (e.g. 503); ``redirect_to`` makes every
request answer 302 to that base URL plus the request's path.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaRegistryStandin:
    """A registry on a free local port while the ``with`` block runs."""

    def __init__(self, *, credentials: str | None = None) -> None:
        self.credentials = credentials
        self.fail_with: int | None = None
        self.redirect_to: str | None = None
        self.requests: list[tuple[str, str]] = []
        self._schemas: dict[int, str] = {}  # id -> schema text as registered
        self._ids: dict[str, int] = {}  # canonical schema -> id
        self._subjects: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use the stand-in in a with block"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def register(self, subject: str, schema: str) -> int:
        """Register a schema over HTTP, as a producer's serializer does; returns its id."""
        request = urllib.request.Request(
            f"{self.url}/subjects/{subject}/versions", method="POST",
            data=json.dumps({"schema": schema}).encode("utf-8"),
            headers={"Content-Type": CONTENT_TYPE, **self._auth_header()})
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(json.loads(response.read())["id"])

    def count(self, method: str, path: str) -> int:
        """How many requests ``method path`` received."""
        with self._lock:
            return self.requests.count((method, path))

    def _auth_header(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        return {"Authorization": "Basic " + base64.b64encode(self.credentials.encode()).decode()}

    # --- request handling (called from the server's threads)

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, object]:
        with self._lock:
            self.requests.append((method, path))
            if self.fail_with is not None:
                return self.fail_with, {"error_code": self.fail_with * 100,
                                        "message": "Failure injected by the test"}
            if self._auth_header() and headers.get("authorization") != self._auth_header()[
                    "Authorization"]:
                return 401, {"error_code": 401, "message": "Unauthorized"}
            parts = path.strip("/").split("/")
            if method == "GET" and parts == ["subjects"]:
                return 200, sorted(self._subjects)
            if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
                if parts[2].isdigit() and int(parts[2]) > 2**31 - 1:
                    return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}
                schema = self._schemas.get(int(parts[2])) if parts[2].isdigit() else None
                if schema is None:
                    return 404, {"error_code": 40403, "message": "Schema not found"}
                return 200, {"schema": schema}
            if method == "POST" and len(parts) == 3 and parts[0] == "subjects" and \
                    parts[2] == "versions":
                return self._register(parts[1], body)
            return 404, {"error_code": 404, "message": "HTTP 404 Not Found"}

    def _register(self, subject: str, body: bytes) -> tuple[int, object]:
        try:
            schema = json.loads(body)["schema"]
            canonical = json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))
        except (ValueError, KeyError, TypeError):
            return 422, {"error_code": 42201, "message": "Invalid schema"}
        schema_id = self._ids.setdefault(canonical, len(self._ids) + 1)
        self._schemas.setdefault(schema_id, schema)
        versions = self._subjects.setdefault(subject, [])
        if schema_id not in versions:
            versions.append(schema_id)
        return 200, {"id": schema_id}


def _handler(registry: SchemaRegistryStandin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._respond("GET")

        def do_POST(self) -> None:
            self._respond("POST")

        def _respond(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            if registry.redirect_to is not None:
                with registry._lock:
                    registry.requests.append((method, path))
                self.send_response(302)
                self.send_header("Location", registry.redirect_to + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, answer = registry._answer(method, path, headers, body)
            payload = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

    return Handler
