"""docs/legal.md lists every checklist item with its legal basis."""

from pathlib import Path

import pytest

from audit.adapters.bundled_data import load_checklist_template

DOC = (Path(__file__).resolve().parents[3] / "docs" / "legal.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["incident_disclosure.v1", "lawful_request.v1"])
def test_every_item_is_listed_with_its_basis(name: str) -> None:
    template = load_checklist_template(name)
    rows = {line.split("|")[1].strip(): line for line in DOC.splitlines() if line.startswith("| `")}
    for item in template.items:
        key = f"`{item.id}`" + (" (per customer)" if item.for_each else "")
        assert key in rows, f"docs/legal.md does not list {item.id}"
        assert item.legal_basis in rows[key], f"docs/legal.md: basis of {item.id} differs"
