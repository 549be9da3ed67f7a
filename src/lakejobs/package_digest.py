"""A digest of the lakejobs files a run executes with: its modules and the data shipped with them
(nicknames; in a wheel, the bundled config, contracts and suites too)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@cache
def package_digest() -> str:
    """SHA-256 of lakejobs' own files. Unlike the version number, it changes with every build
    that changes a file (a development install, a wheel rebuilt under the same version), so a
    result kept because "nothing changed" is also kept for the same code only."""
    return folder_digest(PACKAGE)


def folder_digest(root: Path) -> str:
    """SHA-256 over the relative names and bytes of the files below ``root``, in name order;
    compiled Python (``__pycache__``, ``.pyc``) left out, as the interpreter writes it."""
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"
                   and "__pycache__" not in p.relative_to(root).parts)
    for path in files:
        for part in (path.relative_to(root).as_posix().encode(), path.read_bytes()):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()
