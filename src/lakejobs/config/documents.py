"""Typed documents kept as data (contracts, curated models): YAML in, a validated model out."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

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
        raise ConfigError(f"{location}: {loc}: {problem_text(first)}") from None


def problem_text(item: ErrorDetails) -> str:
    """One validation problem in the words of the config errors: what was expected, and the value
    found when it is a scalar (``expected a valid integer, got 'four'``)."""
    if item["type"] == "missing":
        return "required key is missing"
    if item["type"] == "extra_forbidden":
        return "unknown key"
    if item["type"] == "union_tag_invalid":
        return f"expected one of {item['ctx']['expected_tags']}, got {item['ctx']['tag']!r}"
    message = (
        item["msg"]
        .replace("Input should be", "expected")
        .replace("String should match pattern", "expected a string matching")
        .replace("Value error, ", "")
    )
    if "input" in item and not isinstance(item["input"], dict | list):
        message += f", got {item['input']!r}"
    return message
