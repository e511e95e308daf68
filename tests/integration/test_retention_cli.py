"""The retention CLI handlers on the real node: JSON out, stable field names."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

import pytest

from audit.cli import retention
from audit.errors import AuditError
from tests.integration.conftest import Isolated

pytestmark = pytest.mark.integration


@pytest.fixture
def cli(isolated: Isolated, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    tag = isolated.settings.index_prefix.removesuffix("-events")
    monkeypatch.setenv("AUDIT_HOLD_INDEX", f"{tag}-legal-holds")
    monkeypatch.setenv("AUDIT_HOLD_COPY_PREFIX", f"{tag}-holds")
    monkeypatch.setenv("AUDIT_ORG_SETTINGS_INDEX", f"{tag}-org-settings")
    parser = argparse.ArgumentParser()
    retention.register(parser.add_subparsers(dest="command", required=True))

    def run(*argv: str) -> int:
        args = parser.parse_args(argv)
        status: int = args.handler(args)
        return status

    yield run
    if isolated.es.indices.exists_index_template(name=f"{tag}-holds"):
        isolated.es.indices.delete_index_template(name=f"{tag}-holds")


def lines(captured: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in captured.decode().splitlines() if line.strip()]


def test_holds_plan_set_class_and_erase_commands(
    isolated: Isolated, cli: Any, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    prefix = isolated.settings.index_prefix
    index = f"{prefix}-standard-2025.01.10"
    isolated.es.indices.create(index=index)
    isolated.es.index(
        index=index,
        id="e1",
        document={"@timestamp": "2025-01-10T10:00:00Z", "organization": {"id": "org_a"}},
        refresh=True,
    )
    capsysbinary.readouterr()
    assert cli("holds", "create", "--org", "org_a", "--by", "legal", "--reason", "case",
               "--reference", "CASE-1", "--id", "case-1") == 0  # fmt: skip
    created = lines(capsysbinary.readouterr().out)[0]
    assert created["id"] == "case-1" and created["scope"]["organization_ids"] == ["org_a"]
    isolated.es.indices.refresh(
        index=isolated.env["AUDIT_INDEX_PREFIX"].replace("-events", "-legal-holds")
    )

    assert cli("retention", "plan", "--json") == 0  # now: the hold was placed now
    planned = lines(capsysbinary.readouterr().out)
    assert [p["index"] for p in planned] == [index]
    assert set(planned[0]) >= {"index", "tier", "action", "reason", "holds", "blocked_by"}
    assert (planned[0]["action"], planned[0]["holds"]) == ("copy_held_then_delete", ["case-1"])

    assert cli("holds", "list", "--json") == 0
    assert [(h["id"], h["active"]) for h in lines(capsysbinary.readouterr().out)] == [
        ("case-1", True)
    ]
    assert cli("erase-org", "org_a", "--by", "ops", "--reason", "contract end", "--dry-run") == 0
    erased = lines(capsysbinary.readouterr().out)[0]
    assert (erased["matching"], erased["kept_held"], erased["held_by"]) == (0, 1, ["case-1"])

    assert cli("holds", "release", "case-1", "--by", "legal", "--reason", "closed") == 0
    released = lines(capsysbinary.readouterr().out)[0]
    assert released["released_by"] == "legal" and released["release_reason"] == "closed"

    assert cli("retention", "set-class", "org_a", "extended", "--by", "admin", "--reason", "x") == 0
    assert lines(capsysbinary.readouterr().out)[0]["after"] == "extended"
    with pytest.raises(AuditError, match="not selectable"):
        cli("retention", "set-class", "org_a", "gold", "--by", "admin", "--reason", "x")
