"""The OpenAPI document: committed and current, and the API keeps to it under schemathesis.

schemathesis generates requests from the document (valid and invalid ones)
against the app on the real node and broker: no 5xx, and every answer's
status, content type, headers and body conform to the document.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audit.api.app import openapi_document

from .api_support import ApiEnv, api_env_fixture  # noqa: F401 - a fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ALL_ROLES = ["oncall", "compliance", "legal", "admin", "auditor"]


def test_committed_openapi_document_is_current() -> None:
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == openapi_document(), "regenerate: audit openapi > docs/openapi.json"


_PATHS = openapi_document()["paths"]
OPERATIONS = sorted(
    (method.upper(), path) for path, methods in _PATHS.items() for method in methods
)
# Invalid requests exist only for operations that take some input.
CASES = [
    (operation, mode)
    for operation in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode is GenerationMode.POSITIVE
    or set(_PATHS[operation[1]][operation[0].lower()]) & {"parameters", "requestBody"}
]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.mark.parametrize(
    ("operation", "mode"), CASES, ids=[f"{m} {p} {g.value}" for (m, p), g in CASES]
)
def test_api_conforms(api_env: ApiEnv, operation: tuple[str, str], mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api_env.client.app)
    found = schema[operation[1]][operation[0]]
    headers = api_env.auth("ana@legal", ALL_ROLES, "*")
    statuses: list[int] = []

    @given(case=found.as_strategy(generation_mode=mode))
    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(
            headers={**headers, **(case.headers or {})}, checks=CHECKS
        )
        statuses.append(response.status_code)

    run()
    assert statuses, "no request was sent"
    assert all(s < 500 for s in statuses)
    if mode is GenerationMode.NEGATIVE:
        assert any(400 <= s < 500 for s in statuses), "no invalid request was refused"
