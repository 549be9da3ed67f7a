"""Typed documents kept as data (contracts, curated models): YAML in, a validated model out."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lakejobs.errors import ConfigError
from lakejobs.resources import read_text

M = TypeVar("M", bound=BaseModel)


def load_document(location: str, model: type[M]) -> M:
    """Read a YAML document (local path or ``s3://``) into ``model``.

    Raises:
        ConfigError: naming the file, the key and what was expected.
    """
    try:
        data: Any = yaml.safe_load(read_text(location))
    except yaml.YAMLError as e:
        raise ConfigError(f"{location}: expected valid YAML: {e}") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or model.__name__
        raise ConfigError(f"{location}: {loc}: {first['msg']}") from None
