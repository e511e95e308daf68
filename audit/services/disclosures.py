"""Lawful disclosure request use cases: intake from a YAML file, show, decide, approve, report.

Writes are read-modify-write with optimistic concurrency, like incidents.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.domain.checklists import (
    AttributesConfig,
    ChecklistTemplate,
    DataFileError,
    HoldRequest,
    ItemDecision,
    validate_decision,
)
from audit.domain.data_files import describe_validation_error, parse_yaml
from audit.domain.disclosure import (
    DisclosureRequest,
    Intake,
    ProcessType,
    TransparencyReport,
    approve,
    clocks,
    evaluate_request_checklist,
    next_steps,
    notice_plan,
    receive,
    record_decision,
    transparency_report,
)
from audit.domain.disclosure.model import LEGAL_ROLE
from audit.errors import AuditError, ConfigurationError
from audit.services.incidents import BadInput
from audit.services.optimistic import update_with_retry
from audit.services.ports.incidents import DisclosureStore


class AlreadyRecorded(AuditError):
    """This request (same authority, reference and receipt time) is recorded already.

    Show it with ``audit disclosure show ID`` instead of recording it again.
    """


class RequestFile(BaseModel):
    """The YAML file ``audit disclosure new --file`` reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intake: Intake
    process_type: ProcessType
    scope: str = ""
    received_by: str = Field(min_length=1, description="who at the platform recorded it")


def parse_request_file(text: str, source: str) -> RequestFile:
    """Parse a request file; every problem is reported with ``source:line``."""
    raw = parse_yaml(text, source)
    if not isinstance(raw, dict):
        raise DataFileError(source, [f"{source}:1: expected a mapping at the top level"])
    try:
        return RequestFile.model_validate(raw)
    except ValidationError as exc:
        raise DataFileError(source, describe_validation_error(exc, raw, source)) from exc


def parse_principals(text: str) -> tuple[str, ...]:
    """``AUDIT_LEGAL_PRINCIPALS``: comma-separated, blanks ignored."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


class DisclosureService:
    def __init__(
        self,
        store: DisclosureStore,
        template: ChecklistTemplate,
        attributes: AttributesConfig,
        legal_principals: Sequence[str],
        *,
        max_attempts: int = 50,
    ) -> None:
        self._store = store
        self._template = template
        self._notice_period = timedelta(days=attributes.platform.customer_notice_days)
        self._calendar = attributes.platform.sec_calendar
        self._legal = frozenset(legal_principals)
        self._max_attempts = max_attempts

    def new(self, path: Path, now: datetime) -> tuple[DisclosureRequest, HoldRequest | None]:
        """Record the request described in ``path``; a preservation also asks for a hold."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigurationError(f"cannot read {path}: {err.strerror}") from err
        return self.record(parse_request_file(text, str(path)), now)

    def record(
        self, spec: RequestFile, now: datetime
    ) -> tuple[DisclosureRequest, HoldRequest | None]:
        """Record an already parsed request (from a file or the HTTP API)."""
        request, hold = receive(
            spec.intake, spec.process_type, by=spec.received_by, at=now, scope=spec.scope
        )
        if not self._store.create(request):
            raise AlreadyRecorded(f"request {request.id} is recorded already")
        return request, hold

    def get(self, request_id: str) -> DisclosureRequest:
        return self._store.get(request_id).value

    def show(self, request_id: str, now: datetime) -> dict[str, Any]:
        request = self.get(request_id)
        view = request.model_dump(mode="json")
        view["next_steps"] = list(next_steps(request))
        view["notice_plan"] = notice_plan(request, self._notice_period).model_dump(mode="json")
        view["clocks"] = clocks(request).model_dump(mode="json")
        checklist = evaluate_request_checklist(
            self._template,
            request,
            now=now,
            calendar=self._calendar,
            notice_period=self._notice_period,
        )
        view["checklist"] = [s.model_dump(mode="json") for s in checklist]
        return view

    def decide(
        self,
        request_id: str,
        item_id: str,
        *,
        answer: str,
        rationale: str,
        by: str,
        now: datetime,
    ) -> DisclosureRequest:
        for name, value in (("by", by), ("answer", answer), ("rationale", rationale)):
            if not value.strip():
                raise BadInput(f"{name} must not be blank")
        decision = ItemDecision(
            item_id=item_id, answer=answer, rationale=rationale, decided_by=by, decided_at=now
        )
        validate_decision(self._template, decision)
        return self._update(request_id, lambda r: record_decision(r, decision))

    def approve(self, request_id: str, *, by: str, now: datetime) -> DisclosureRequest:
        """One legal principal's approval (``AUDIT_LEGAL_PRINCIPALS`` says who is one)."""
        if not self._legal:
            raise ConfigurationError(
                "no legal principals configured; set AUDIT_LEGAL_PRINCIPALS (comma-separated)"
            )
        roles = [LEGAL_ROLE] if by in self._legal else []
        return self._update(request_id, lambda r: approve(r, principal=by, roles=roles, at=now))

    def report(self, year: int) -> TransparencyReport:
        return transparency_report(self._store.all(), year)

    def _update(
        self, request_id: str, change: Callable[[DisclosureRequest], DisclosureRequest]
    ) -> DisclosureRequest:
        return update_with_retry(
            lambda: self._store.get(request_id),
            self._store.replace,
            change,
            max_attempts=self._max_attempts,
        )[1]
