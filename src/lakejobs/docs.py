"""Reference pages generated from what the code and the data definitions say.

``lakejobs docs`` writes ``docs/configuration.md`` (from the typed settings), ``docs/data-model.md``
(from the staging contracts and the curated model) and ``docs/glue-jobs.md`` (from the Glue job
definitions); a test fails when a committed page differs from what would be generated.
"""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from lakejobs.config import Settings, load_settings


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args]
        optional = type(None) in typing.get_args(annotation)
        return " or ".join(names) + (" or null" if optional else "")
    if origin is typing.Literal:
        return " / ".join(f"`{a}`" for a in typing.get_args(annotation))
    if origin in (tuple, list):
        return f"list of {_type_name(args[0])}" if args else "list"
    if origin is dict:
        return "mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is PydanticUndefined:
        return "required" if field.default_factory is None else f"`{field.default_factory()}`"
    value = field.default
    if isinstance(value, BaseModel):
        return "(section)"
    return "`null`" if value is None else f"`{value}`"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
        nested = typing.get_args(candidate)
        if nested and isinstance(nested[0], type) and issubclass(nested[0], BaseModel):
            return nested[0]
    return None


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        nested = _model_of(field.annotation)
        if nested is not None:
            is_list = typing.get_origin(field.annotation) in (tuple, list)
            if is_list:
                rows.append(f"| `{key}` | list of {nested.__name__} | `[]` | "
                            f"{(nested.__doc__ or '').strip().splitlines()[0]} |")
            rows += _rows(nested, f"{key}[]." if is_list else f"{key}.")
            continue
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{key}` | {_type_name(field.annotation)} | {_default(field)} | "
                    f"{description} |")
    return rows


def configuration_markdown() -> str:
    """Every configuration key: type, default and meaning, from :class:`Settings`."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `lakejobs.config.models` by `lakejobs docs`; do not edit by hand.",
        "Each environment has `conf/<env>.yaml`; any key can be overridden with an environment",
        "variable `LAKEJOBS__<SECTION>__<KEY>`. Unknown keys and wrong types fail at start-up",
        "with one line naming the file, the key and what was expected.",
        "",
        "| key | type | default | meaning |",
        "|---|---|---|---|",
        *_rows(Settings, ""),
        "",
    ]
    return "\n".join(lines)


def data_model_markdown(settings: Settings) -> str:
    """The staging tables (contracts) and curated tables (model) of ``settings``."""
    from lakejobs.batch.landing_to_staging import table_rules
    from lakejobs.curated.comments import table_comments
    from lakejobs.curated.models import load_model
    from lakejobs.resources import resolve_location

    lines = ["# Data model", "",
             "Generated from the staging contracts and the curated model of the `dev` "
             "environment by `lakejobs docs`; do not edit by hand.", "",
             "## Staging (one table per contract)", "",
             "Every staging table also carries `_extra_columns` (fields the contract does not "
             "know), `_source_file`, `_dq_warnings`, `_run_id` and `_validated_at`, and is "
             "written with Delta row tracking (`delta.enableRowTracking`: each row's commit "
             "version, which the curated and identity jobs read incrementally by); its "
             "quarantine twin holds `raw_record`, `failures`, `record_hash`, `run_id`, "
             "`quarantined_at`.", ""]
    for table in settings.validation.tables:
        contract, rules = table_rules(table)
        lines += [f"### `staging/{contract.table}`", "",
                  f"Contract v{contract.version}, {contract.format} landing, keys "
                  f"{', '.join(f'`{k}`' for k in contract.keys) or '—'}, drift "
                  f"`{contract.drift}`, evolution `{contract.evolution}`, "
                  f"{len(rules.rules)} rule(s).", "",
                  "| column | type | nullable | comment |", "|---|---|---|---|"]
        lines += [f"| `{c.name}` | {c.type} | {'yes' if c.nullable else 'no'} | "
                  f"{c.comment or ''} |" for c in contract.columns]
        lines.append("")
    model = load_model(resolve_location(settings.curated.model))
    grains = {model.calendar.name: "one row per day (`date_key`)"}
    grains.update({d.name: f"one row per version of {', '.join(d.key_names)}; surrogate key "
                   f"`{d.surrogate_key}`" for d in model.dimensions})
    grains.update({f.name: f"one row per {', '.join(f.grain_names)}" for f in model.facts})
    if model.engagement is not None:
        grains[model.engagement.name] = "one row per (event_date, identity_key)"
        grains[model.engagement.daily_name] = "one row per event_date"
    partitions = {f.name: f.partition_by for f in model.facts}
    lines += ["## Curated (`conf/models/`)", ""]
    for name, (comment, columns) in table_comments(model).items():
        parts = partitions.get(name) or ()
        lines += [f"### `curated/{name}`", "", f"{comment}. Grain: {grains[name]}. Partitioned "
                  f"by: {', '.join(parts) or 'nothing'}.", "",
                  "| column | comment |", "|---|---|"]
        lines += [f"| `{c}` | {text} |" for c, text in columns.items()]
        lines.append("")
    return "\n".join(lines + _identity_markdown(settings) + _dedupe_markdown(settings))


def _identity_markdown(settings: Settings) -> list[str]:
    from lakejobs.identity.dsar import AUDIT_SCHEMA, PURGED_SCHEMA, REQUEST_SCHEMA
    from lakejobs.identity.store import DESCRIPTIONS, TABLES

    zone = settings.identity.zone
    lines = ["## Identity (`lakejobs.identity`, private zone)", "",
             f"In the `{zone}` zone (`identity.zone`); nodes are `<prefix>:<sha256(identifier + "
             "salt)>`, never raw identifiers.", ""]
    tables = [(f"{zone}/{name}", DESCRIPTIONS[name], schema) for name, schema in TABLES.items()]
    tables += [
        ("_lakejobs/dsar_requests", "DSAR deletion requests (written by the requesting "
         "system): a raw `user_id` (identity graph and `identity.dsar_tables`), a master-data "
         "`canonical_id` (dedupe sources and master-data tables) or both; `user_id` is blanked "
         "once the request is carried out", REQUEST_SCHEMA),
        ("_lakejobs/dsar_audit", "one row per request and target (graph, each purged table): "
         "rows deleted, status; `user_node` is the hashed user node, or the canonical id for "
         "master-data targets", AUDIT_SCHEMA),
        ("_lakejobs/dsar_purged_tables", "tables a DSAR deletion purged (`path`, `purged_at`), "
         "vacuumed by every `identity_dsar` run until one runs after the maintenance retention "
         "has passed since the purge: then the purged files are gone and the row is deleted",
         PURGED_SCHEMA),
    ]
    for name, text, schema in tables:
        lines += [f"### `{name}`", "", f"{text[0].upper()}{text[1:]}.", "",
                  "| column | type | nullable |", "|---|---|---|"]
        lines += [f"| `{f.name}` | {f.dataType.simpleString()} | "
                  f"{'yes' if f.nullable else 'no'} |" for f in schema.fields]
        lines.append("")
    return lines


def _dedupe_markdown(settings: Settings) -> list[str]:
    from lakejobs.identity.dedupe_store import DESCRIPTIONS, SCHEMAS

    zone = settings.dedupe.zone
    lines = ["## Master data (`lakejobs.identity.dedupe`)", "",
             f"In the `{zone}` zone (`dedupe.zone`), written by `master_data_dedupe`; rows "
             "without a record id go to `quarantine/source_identities` with a reason.", ""]
    for name, schema in SCHEMAS.items():
        text = DESCRIPTIONS[name]
        lines += [f"### `{zone}/{name}`", "", f"{text[0].upper()}{text[1:]}.", "",
                  "| column | type |", "|---|---|"]
        lines += [f"| `{f.name}` | {f.dataType.simpleString()} |" for f in schema.fields]
        lines.append("")
    return lines


def generated_pages() -> dict[str, str]:
    """File name under ``docs/`` → content."""
    from lakejobs.deploy import glue_jobs_markdown, load_glue_jobs

    return {
        "configuration.md": configuration_markdown(),
        "data-model.md": data_model_markdown(load_settings("dev", environ={})),
        "glue-jobs.md": glue_jobs_markdown(load_glue_jobs()),
    }


def write_pages(folder: Path) -> list[Path]:
    """Write the generated pages into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated_pages().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
