"""Lake locations: zones, tenant prefixes and table folders, with names checked before use.

Names that come from data (topics, table and source names) become folder names, so they are
validated against a strict pattern first: no separators, no ``..``, no surprises.
"""

from __future__ import annotations

import re
from pathlib import Path

from lakejobs.config import LakeSettings
from lakejobs.errors import InvalidNameError

_PATTERNS = {
    "table": re.compile(r"^[a-z_][a-z0-9_]{0,127}$"),
    "topic": re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,248}$"),
    "source": re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"),
    "column": re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"),
}
ZONES = ("landing", "staging", "curated", "quarantine", "system")


def validate_name(name: str, kind: str = "table") -> str:
    """Return ``name`` if it is a safe ``kind`` name (table, topic or source).

    Raises:
        InvalidNameError: the name could escape its folder or breaks the naming rule.
    """
    pattern = _PATTERNS[kind]
    # fullmatch: with match, "$" also matches before a final newline ("orders\n" passed)
    if not isinstance(name, str) or not pattern.fullmatch(name) or ".." in name:
        raise InvalidNameError(
            f"invalid {kind} name {name!r}: expected to match {pattern.pattern} without '..'"
        )
    return name


class LakePaths:
    """Resolves zone and table locations below the lake root and the optional client prefix."""

    def __init__(self, lake: LakeSettings, cwd: Path | None = None) -> None:
        root = lake.root
        if not root.startswith(("s3://", "s3a://")):
            local = Path(root.removeprefix("file://")).expanduser()
            root = str(local if local.is_absolute() else (cwd or Path.cwd()) / local)
        self.root = root
        self.client = lake.client
        self.zones = lake.zones

    @property
    def base(self) -> str:
        """The lake root, plus ``clients/{client}`` for a tenant."""
        return f"{self.root}/clients/{self.client}" if self.client else self.root

    def zone(self, zone: str) -> str:
        """Location of a zone (``landing``, ``staging``, ``curated``, ``quarantine``, ``system``)."""
        if zone not in ZONES:
            raise InvalidNameError(f"unknown zone {zone!r}: expected one of {', '.join(ZONES)}")
        return f"{self.base}/{getattr(self.zones, zone)}"

    def table(self, zone: str, name: str) -> str:
        """Location of a table in a zone; the name is validated first."""
        return f"{self.zone(zone)}/{validate_name(name, 'table')}"
