"""Job arguments, resolved the way AWS Glue's ``getResolvedOptions`` resolves them.

Arguments are ``--NAME value`` pairs; every required name must be present, anything else on the
command line (Glue adds its own, such as ``--TempDir``) is ignored. The same rules and the same
error message apply locally and on Glue, where this check runs before Glue's own.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence

from lakejobs.errors import JobArgumentError

COMMON_REQUIRED = ("JOB_NAME", "env")
COMMON_OPTIONAL = {
    "config": "config file (local path or s3:// URI) instead of the bundled conf/<env>.yaml",
    "JOB_RUN_ID": "run id (AWS Glue passes its own; locally one is generated)",
    "client": "tenant: overrides lake.client, so tables live under clients/{client}/",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise JobArgumentError(f"{self.prog}: {message}")


def resolve_options(
    argv: Sequence[str],
    required: Sequence[str],
    optional: Mapping[str, str] | None = None,
    *,
    job: str = "job",
) -> dict[str, str]:
    """Resolve ``--NAME value`` arguments like Glue's ``getResolvedOptions``.

    Args:
        argv: the full command line, program name first (``sys.argv``).
        required: names that must be present.
        optional: names that may be present, with a description each.
        job: job name used in error messages.

    Returns:
        The resolved arguments, by name; absent optional ones are left out.

    Raises:
        JobArgumentError: a required argument is missing, or an argument has no value.
    """
    parser = _Parser(prog=job, add_help=False, allow_abbrev=False)
    for name in required:
        parser.add_argument(f"--{name}", required=True)
    for name, description in (optional or {}).items():
        parser.add_argument(f"--{name}", required=False, help=description)
    known, _ = parser.parse_known_args(list(argv[1:]))
    resolved = {k: v for k, v in vars(known).items() if v is not None}
    # optional ones too: an empty --config, --client or --table (an unset shell variable) would
    # silently mean "not given" (bundled config, no tenant, every table)
    empty = [name for name, value in resolved.items() if not value.strip()]
    if empty:
        raise JobArgumentError(f"{job}: argument --{empty[0]}: expected a non-empty value")
    return resolved
