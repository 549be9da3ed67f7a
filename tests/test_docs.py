"""The generated reference pages under docs/ are current, and they say what the code says."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakejobs.docs import generated_pages

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = generated_pages()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_the_committed_page_is_what_lakejobs_docs_generates(name: str) -> None:
    assert (DOCS / name).read_text(encoding="utf-8") == PAGES[name], (
        f"docs/{name} is stale: run `lakejobs docs`")


def test_the_configuration_reference_lists_every_section_with_its_default() -> None:
    page = PAGES["configuration.md"]
    assert "| `maintenance.retention_hours` | int | `168` | VACUUM keeps files younger than this |" in page
    assert "| `curated.database` | str | `curated` |" in page
    assert "| `validation.tables[].marker` | str or null | `_SUCCESS` |" in page


def test_the_data_model_shows_contract_columns_and_curated_comments() -> None:
    page = PAGES["data-model.md"]
    assert "| `customer_id` | bigint | no | source system customer key |" in page
    assert "| `customer_sk` | customer version valid when the order was placed |" in page
