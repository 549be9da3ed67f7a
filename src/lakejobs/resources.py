"""Files that ship with lakejobs (config, contracts, expectation suites) and remote text files.

In a built wheel the repository's ``conf/`` and ``expectations/`` folders are packaged under
``lakejobs/_data/``; in a source checkout (editable install, tests) they are read where they are.
Jobs can also be pointed at a local path or an ``s3://`` URI instead.
"""

from __future__ import annotations

from pathlib import Path

from lakejobs.errors import ConfigError

_PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]


def _data_root() -> Path:
    return _PACKAGE_DATA if _PACKAGE_DATA.is_dir() else _CHECKOUT_ROOT


def bundled_path(*parts: str) -> Path:
    """Path of a bundled resource, e.g. ``bundled_path("conf", "dev.yaml")``."""
    return _data_root().joinpath(*parts)


def list_bundled(folder: str) -> list[str]:
    """Names of the files in a bundled folder (empty when the folder is absent)."""
    root = bundled_path(folder)
    return sorted(p.name for p in root.iterdir() if p.is_file()) if root.is_dir() else []


def resolve_location(location: str) -> str:
    """``location`` as given when it is an ``s3://`` URI or an existing local path; otherwise the
    bundled file of that relative name (``conf/contracts/customers.yaml``) when there is one."""
    if location.startswith(("s3://", "s3a://", "file://")) or Path(location).expanduser().exists():
        return location
    bundled = bundled_path(*Path(location).parts)
    return str(bundled) if not Path(location).is_absolute() and bundled.is_file() else location


def read_text(location: str) -> str:
    """Read a UTF-8 text file from a local path or an ``s3://bucket/key`` URI.

    Raises:
        ConfigError: the file does not exist, cannot be read or is not UTF-8 text.
    """
    if location.startswith(("s3://", "s3a://")):
        return _utf8(location, _read_s3_bytes(location))
    path = Path(location.removeprefix("file://")).expanduser()
    try:
        return _utf8(location, path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{location}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{location}: is a folder: expected a file") from None
    except OSError as e:
        raise ConfigError(f"{location}: cannot be read ({e.strerror})") from None


def _utf8(location: str, body: bytes) -> str:
    """The text of a file's bytes, which must be UTF-8 (a byte-order mark is allowed)."""
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = body[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{location}: expected UTF-8 text, found byte 0x{body[e.start]:02x} that is not "
            f"UTF-8 (line {line}); save the file as UTF-8") from None


def _read_s3_bytes(uri: str) -> bytes:
    import boto3  # imported lazily: only jobs that read from S3 need it
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, _, key = uri.split("://", 1)[1].partition("/")
    if not bucket or not key:
        raise ConfigError(f"{uri}: expected s3://bucket/key")
    try:
        return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as e:
        raise ConfigError(f"{uri}: cannot be read from S3 ({e})") from None
