"""Reading rule sets: lakejobs YAML rules and Great Expectations Core 1.x suite JSON.

One file drives both engines. A GX suite in ``expectations/`` is read into the same
:class:`~lakejobs.batch.rules.RuleSet` the fast engine runs, and a YAML rule set can be written
out as a GX suite (:func:`to_gx_suite`) for GX to validate and render as Data Docs. lakejobs'
own settings (severity, rule id) ride in each expectation's ``meta``, which GX ignores.

Supported expectation types (anything else is a :class:`ConfigError` naming it):

==========================================  ==========================================
GX expectation type                         lakejobs check
==========================================  ==========================================
expect_column_values_to_not_be_null         not_null
expect_column_values_to_be_between          between (min_value, max_value, strict_*)
expect_column_values_to_be_in_set           in_set (value_set)
expect_column_values_to_match_regex         regex (regex)
expect_column_value_lengths_to_be_between   length (min_value, max_value)
expect_column_values_to_be_unique           unique (one column)
expect_compound_columns_to_be_unique        unique (column_list)
expect_table_row_count_to_be_between        row_count (min_value, max_value)
expect_column_{min,max,mean,sum,stdev}_...  aggregate (statistic, min_value, max_value)
unexpected_rows_expectation                 sql (``SELECT * FROM {batch} WHERE <bad row>``)
==========================================  ==========================================

``references`` (referential integrity) and ``freshness`` have no GX Core equivalent; they live in
YAML rule sets and are left out of exported suites (listed in the suite's ``meta``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from lakejobs.batch.rules import Rule, RuleSet
from lakejobs.config.documents import problem_text
from lakejobs.errors import ConfigError
from lakejobs.resources import read_text

_UNEXPECTED_ROWS = re.compile(
    r"^\s*select\s+\*\s+from\s+\{batch\}\s+where\s+(?P<cond>.+?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_RULE = TypeAdapter(Rule)

# GX type -> (lakejobs check, {gx kwarg: lakejobs field})
_FROM_GX: dict[str, tuple[str, dict[str, str]]] = {
    "expect_column_values_to_not_be_null": ("not_null", {"column": "column"}),
    "expect_column_values_to_be_between": (
        "between",
        {"column": "column", "min_value": "min", "max_value": "max",
         "strict_min": "strict_min", "strict_max": "strict_max"},
    ),
    "expect_column_values_to_be_in_set": ("in_set", {"column": "column", "value_set": "values"}),
    "expect_column_values_to_match_regex": ("regex", {"column": "column", "regex": "pattern"}),
    "expect_column_value_lengths_to_be_between": (
        "length", {"column": "column", "min_value": "min", "max_value": "max"}
    ),
    "expect_column_values_to_be_unique": ("unique", {"column": "columns"}),
    "expect_compound_columns_to_be_unique": ("unique", {"column_list": "columns"}),
    "expect_table_row_count_to_be_between": ("row_count", {"min_value": "min", "max_value": "max"}),
    "unexpected_rows_expectation": ("sql", {"unexpected_rows_query": "expression"}),
    **{
        f"expect_column_{gx_name}_to_be_between": (
            f"aggregate:{statistic}", {"column": "column", "min_value": "min", "max_value": "max"}
        )
        for gx_name, statistic in (("min", "min"), ("max", "max"), ("mean", "mean"),
                                   ("sum", "sum"), ("stdev", "stdev"))
    },
}
# GX kwargs that change nothing for the engine and are accepted as they are
_IGNORED_KWARGS = {"result_format", "catch_exceptions", "mostly_default"}
SUPPORTED_GX_TYPES = tuple(_FROM_GX)


def load_rules(location: str) -> RuleSet:
    """Read a rule set from a YAML rules file or a GX suite (``.json``), local or ``s3://``.

    Raises:
        ConfigError: the file is malformed, names an unsupported expectation type or holds an
            invalid rule; the message names the file, the rule and the key.
    """
    text = read_text(location)
    if location.endswith(".json"):
        try:
            suite = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{location}: expected GX suite JSON: {e}") from None
        return rules_from_gx_suite(suite, source=location)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{location}: expected valid YAML: {e}") from None
    return rules_from_mapping(data, source=location)


def rules_from_mapping(data: Any, *, source: str) -> RuleSet:
    """A rule set from ``{"table": ..., "rules": [...]}`` (parsed YAML)."""
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise ConfigError(f"{source}: expected a mapping with 'table' and a list of 'rules'")
    rules = []
    for index, raw in enumerate(data.get("rules", [])):
        rules.append(_parse_rule(raw, source=source, where=f"rules[{index}]"))
    return _rule_set(data.get("table"), rules, source=source)


def rules_from_gx_suite(suite: Any, *, source: str, table: str | None = None) -> RuleSet:
    """A rule set from a GX Core 1.x expectation suite (parsed JSON).

    The table is ``table``, else the suite's ``meta.table``, else the last dotted part of its name.
    """
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise ConfigError(f"{source}: expected a GX suite with a list of 'expectations'")
    rules = []
    for index, expectation in enumerate(suite["expectations"]):
        where = f"expectations[{index}]"
        if not isinstance(expectation, dict):
            raise ConfigError(f"{source}: {where}: expected a mapping")
        gx_type = expectation.get("type")
        if gx_type not in _FROM_GX:
            raise ConfigError(
                f"{source}: {where}.type: unsupported expectation type {gx_type!r}: expected one "
                f"of {', '.join(SUPPORTED_GX_TYPES)}"
            )
        check, names = _FROM_GX[gx_type]
        kwargs = dict(expectation.get("kwargs") or {})
        meta = dict(expectation.get("meta") or {})
        raw: dict[str, Any] = {"check": check}
        if check.startswith("aggregate:"):
            raw = {"check": "aggregate", "statistic": check.split(":")[1]}
        for gx_name, value in kwargs.items():
            if gx_name in _IGNORED_KWARGS:
                continue
            if gx_name not in names:
                raise ConfigError(
                    f"{source}: {where}.kwargs.{gx_name}: not supported for {gx_type}: expected "
                    f"only {', '.join(names)}"
                )
            raw[names[gx_name]] = value
        if check == "unique" and isinstance(raw.get("columns"), str):
            raw["columns"] = [raw["columns"]]
        if check == "sql":
            raw["expression"] = _bad_row_condition(raw.get("expression"), source, where)
        raw["id"] = meta.get("rule_id") or _default_id(check, raw)
        for key in ("severity", "description"):
            if key in meta:
                raw[key] = meta[key]
        rules.append(_parse_rule(raw, source=source, where=where))
    name = (table or (suite.get("meta") or {}).get("table")
            or str(suite.get("name", "")).split(".")[-1])
    return _rule_set(name, rules, source=source)


def to_gx_suite(rule_set: RuleSet, *, name: str | None = None) -> dict[str, Any]:
    """The rule set as a GX Core 1.x suite dict; rules GX cannot express are listed in ``meta``."""
    to_gx = {check: (gx_type, names) for gx_type, (check, names) in _FROM_GX.items()}
    expectations, not_in_gx = [], []
    for rule in rule_set.rules:
        check = f"aggregate:{rule.statistic}" if rule.check == "aggregate" else rule.check
        if check not in to_gx:
            not_in_gx.append(rule.id)
            continue
        gx_type, names = to_gx[check]
        fields = rule.model_dump(by_alias=True, exclude_none=True)
        kwargs = {gx: fields[ours] for gx, ours in names.items() if ours in fields}
        if rule.check == "unique":
            columns = list(rule.columns)
            gx_type = "expect_column_values_to_be_unique" if len(columns) == 1 else (
                "expect_compound_columns_to_be_unique"
            )
            kwargs = {"column": columns[0]} if len(columns) == 1 else {"column_list": columns}
        if rule.check == "in_set":
            kwargs["value_set"] = list(rule.values)
        if rule.check == "sql":
            # the suite states the rows that fail: those where the condition is false
            query = f"SELECT * FROM {{batch}} WHERE NOT ({rule.expression})"
            kwargs = {"unexpected_rows_query": query}
        meta = {"rule_id": rule.id, "severity": rule.severity}
        if rule.description:
            meta["description"] = rule.description
        expectations.append({"type": gx_type, "kwargs": kwargs, "meta": meta})
    suite_meta: dict[str, Any] = {"table": rule_set.table}
    if not_in_gx:
        suite_meta["lakejobs_only_rules"] = not_in_gx
    return {"name": name or f"staging.{rule_set.table}", "expectations": expectations,
            "meta": suite_meta}


def write_gx_suite(rule_set: RuleSet, path: str | Path) -> Path:
    """Write :func:`to_gx_suite` as pretty JSON to ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(to_gx_suite(rule_set), indent=2, default=str) + "\n")
    return target


def _bad_row_condition(query: Any, source: str, where: str) -> str:
    match = _UNEXPECTED_ROWS.match(query) if isinstance(query, str) else None
    if match is None:
        raise ConfigError(
            f"{source}: {where}.kwargs.unexpected_rows_query: expected "
            f"'SELECT * FROM {{batch}} WHERE <condition of a bad row>', got {query!r}"
        )
    condition = match.group("cond")
    # a bad row is one where the condition holds; the rule states what a good row satisfies
    negated = re.match(r"^not\s*\(", condition, re.IGNORECASE)
    if negated and _closing_parenthesis(condition, negated.end() - 1) == len(condition) - 1:
        return condition[negated.end():-1]
    return f"NOT ({condition})"


def _closing_parenthesis(text: str, opening: int) -> int | None:
    """Index of the parenthesis closing the one at ``opening`` (quoted text skipped), if any.

    ``NOT (a) OR NOT (b)`` starts with ``NOT (`` and ends with ``)``, but the two do not pair.
    """
    depth, quote, escaped = 0, None, False
    for index in range(opening, len(text)):
        char = text[index]
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index
    return None


def _default_id(check: str, raw: dict[str, Any]) -> str:
    columns = raw.get("columns") or ([raw["column"]] if "column" in raw else [])
    base = "_".join([*(str(c) for c in columns), check]) if columns else check
    return re.sub(r"[^a-z0-9_]", "_", base.lower())[:120]


def _parse_rule(raw: Any, *, source: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping with 'id' and 'check'")
    try:
        return _RULE.validate_python(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"][1:] if not isinstance(p, int)) or "check"
        rule_id = raw.get("id", "?")
        raise ConfigError(
            f"{source}: {where} (rule '{rule_id}').{loc}: {problem_text(first)}") from None


def _rule_set(table: Any, rules: list[Any], *, source: str) -> RuleSet:
    try:
        return RuleSet(table=table, rules=tuple(rules))
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "rules"
        raise ConfigError(f"{source}: {loc}: {problem_text(first)}") from None
