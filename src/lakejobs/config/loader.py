"""Load `conf/<env>.yaml` (bundled, a local path or an s3:// URI) into :class:`Settings`.

Values may be overridden by environment variables named ``LAKEJOBS__<SECTION>__<KEY>``, e.g.
``LAKEJOBS__SPARK__SHUFFLE_PARTITIONS=8`` or ``LAKEJOBS__LAKE__ROOT=s3://bucket/lake``.
Every problem becomes one :class:`ConfigError` line naming the file (or variable), the key and
what was expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from lakejobs.config.documents import problem_text
from lakejobs.config.models import Settings
from lakejobs.errors import ConfigError
from lakejobs.resources import bundled_path, list_bundled, read_text

ENV_PREFIX = "LAKEJOBS__"


Override = tuple[list[str], str]


def load_settings(
    env: str,
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Override] | None = None,
) -> Settings:
    """Load and validate the settings of one environment.

    Args:
        env: environment name (``dev``, ``qa``, ``prod``).
        path: a config file (local path or s3:// URI); defaults to the bundled ``conf/<env>.yaml``.
        environ: environment variables to read overrides from; defaults to ``os.environ``.
        overrides: further overrides by source label (e.g. ``"--client"``) as (key path, value);
            they win over the file and the environment.

    Raises:
        ConfigError: the file is missing or malformed, or a value is invalid.
    """
    if path is None:
        known = sorted(p.removesuffix(".yaml") for p in list_bundled("conf") if p.endswith(".yaml"))
        if env not in known:
            raise ConfigError(
                f"no configuration for environment '{env}': expected one of {', '.join(known)} "
                "(or pass --config PATH)"
            )
        path = str(bundled_path("conf", f"{env}.yaml"))
    raw = _parse_yaml(path, read_text(path))
    return settings_from_mapping(raw, source=path, env=env, environ=environ, overrides=overrides)


def settings_from_mapping(
    raw: Mapping[str, Any],
    *,
    source: str,
    env: str,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Override] | None = None,
) -> Settings:
    """Validate a parsed mapping (plus environment and explicit overrides) into :class:`Settings`."""
    data = dict(raw)
    if data.setdefault("env", env) != env:
        raise ConfigError(f"{source}: env: expected '{env}' (the requested environment), "
                          f"got '{data['env']}'")
    applied = {**_env_overrides(os.environ if environ is None else environ), **(overrides or {})}
    for label, (keys, value) in applied.items():
        _set_nested(data, keys, value, source=label)
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_describe(e, source, applied)) from None


def _parse_yaml(path: str, text: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: expected valid YAML{where}: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level, "
                          f"got {type(raw).__name__}")
    return raw


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Override]:
    return {
        var: ([part.lower() for part in var[len(ENV_PREFIX):].split("__")], value)
        for var, value in sorted(environ.items())
        if var.startswith(ENV_PREFIX) and len(var) > len(ENV_PREFIX)
    }


def _set_nested(data: dict[str, Any], keys: list[str], value: str, *, source: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{source}: {'.'.join(keys)}: '{key}' is not a section")
        node = child
    node[keys[-1]] = value


def _describe(error: ValidationError, source: str, overrides: Mapping[str, Override]) -> str:
    problems = []
    by_key = {".".join(keys): var for var, (keys, _) in overrides.items()}
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"])
        where = by_key.get(key, source)
        if item["type"] == "extra_forbidden":
            allowed = _allowed_keys(item["loc"][:-1])
            problems.append(f"{where}: {key}: unknown key (expected one of: {allowed})")
            continue
        problems.append(f"{where}: {key}: {problem_text(item)}")
    extra = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
    return problems[0] + extra


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    """The keys of the section at ``loc`` (a list index or a mapping key steps into the items'
    model), or ``?`` when no model describes it."""
    model: type[BaseModel] | None = Settings
    in_items = False  # the last step entered a tuple, list or mapping: ``part`` is an item's
    for part in loc:
        if in_items:
            in_items = False
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            return "?"
        model, in_items = _model_in(field.annotation)
    return ", ".join(model.model_fields) if model is not None and not in_items else "?"


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field's annotation holds, and whether it holds it as the items of a tuple,
    list or mapping (``Spark``; ``Registry | None``; ``tuple[Source, ...]``, ``dict[str, Table]``).
    """
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (tuple, list, dict, Sequence, Mapping):
        models = {m for a in args if (m := _model_in(a)[0]) is not None}
        return (models.pop() if len(models) == 1 else None), True
    if len(args) == 1:  # optional
        return _model_in(args[0])
    return None, False
