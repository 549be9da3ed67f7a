"""Fetch single jars from Maven Central by coordinates, checked against their published SHA-1.

Ivy (``spark.jars.packages``) resolves the connectors with their dependencies; this covers the
few replacement jars that must come in without dependencies (see ``Stack.replacements``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path
from urllib.error import URLError

from lakejobs.errors import SessionError

log = logging.getLogger(__name__)

DEFAULT_REPOSITORY = "https://repo1.maven.org/maven2"


def jar_url(coordinate: str, repository: str = DEFAULT_REPOSITORY) -> str:
    """URL of the jar of ``group:artifact:version`` in a Maven repository."""
    group, artifact, version = coordinate.split(":")
    return f"{repository}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.jar"


def fetch_jar(coordinate: str, cache_dir: Path) -> Path:
    """The local path of a jar, downloaded into ``cache_dir`` on first use.

    The repository is Maven Central unless ``LAKEJOBS_MAVEN_REPOSITORY`` names a mirror.

    Raises:
        SessionError: the jar cannot be downloaded or fails its checksum.
    """
    group, artifact, version = coordinate.split(":")
    target = cache_dir / f"{group}_{artifact}-{version}.jar"
    if target.is_file():
        return target
    url = jar_url(coordinate, os.environ.get("LAKEJOBS_MAVEN_REPOSITORY", DEFAULT_REPOSITORY))
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            body = response.read()
        with urllib.request.urlopen(url + ".sha1", timeout=60) as response:
            expected = response.read().decode("ascii").split()[0].strip().lower()
    except (URLError, OSError) as e:
        raise SessionError(f"cannot download {coordinate} from {url}: {e}") from None
    if hashlib.sha1(body).hexdigest() != expected:  # noqa: S324 - Maven publishes SHA-1
        raise SessionError(f"{coordinate}: downloaded jar does not match its published SHA-1")
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")  # own name: fetches may race
    partial.write_bytes(body)
    partial.replace(target)  # atomic: a crashed download never leaves a truncated jar
    return target
