"""Data-subject requests: intake, decision, the clock, execution by right.

``new`` records the request (subject, right, identity verification, law);
``extend`` records an extension with its reasons and when the subject was
told; ``decide`` approves (with erasure exemptions) or refuses; ``execute``
carries out an approved request:

* access / portability: a signed export bundle per organization, NDJSON and
  CSV (``audit verify-bundle`` checks each), of the events where the
  subject is the actor, customer-content events left out and counted as
  redirected to their organization;
* erasure: :class:`audit.services.subject_erasure.SubjectErasure`;
* restriction / objection: :class:`audit.services.restriction.Restriction`
  (``lift`` ends it, recorded);
* rectification: a note appended to the request that links the correction
  to the subject's events; the events never change.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from audit.domain.export import ExportFormat
from audit.domain.export.redaction import profile
from audit.domain.privacy.erasure import CUSTOMER_CONTENT
from audit.domain.privacy.fields import get_value
from audit.domain.privacy.requests import (
    DataSubjectRequest,
    Decision,
    Exemption,
    Right,
    Status,
)
from audit.errors import AuditError, ConflictError
from audit.services.export import ExportRequest, ExportService
from audit.services.ports.privacy import DocumentIndex, RequestStore
from audit.services.restriction import Restriction
from audit.services.subject_erasure import SubjectErasure, subject_query


class RequestRefused(AuditError):
    """The data-subject request or the change asked of it is not valid; the
    message says what is wrong."""


class DsrService:
    def __init__(
        self,
        requests: RequestStore,
        documents: DocumentIndex,
        events_index: str,
        erasure: Callable[[], SubjectErasure],
        exporter: Callable[[], ExportService],
    ) -> None:
        self._requests = requests
        self._docs = documents
        self._events = events_index
        self._erasure = erasure
        self._exporter = exporter
        self._restriction = Restriction(documents, events_index)

    def _load(self, request_id: str) -> DataSubjectRequest:
        return DataSubjectRequest.from_stored(self._requests.get(request_id))

    def _save(self, request: DataSubjectRequest) -> DataSubjectRequest:
        self._requests.replace(request.id, request.as_dict())
        return request

    def new(self, payload: Mapping[str, Any], by: str, now: datetime) -> DataSubjectRequest:
        data = dict(payload)
        data.setdefault("id", f"dsr_{uuid.uuid4().hex[:16]}")
        data.setdefault("received_at", now.isoformat())
        data["received_by"] = by
        data["history"] = [{"what": "received", "by": by, "at": now.isoformat()}]
        try:
            request = DataSubjectRequest.model_validate(data)
        except ValidationError as err:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'request'}: {e['msg']}" for e in err.errors()
            )
            raise RequestRefused(f"invalid data-subject request: {problems}") from None
        if not self._requests.create(request.id, request.as_dict()):
            raise ConflictError(f"request {request.id} exists already")
        return request

    def show(self, request_id: str, now: datetime) -> dict[str, Any]:
        request = self._load(request_id)
        out = request.as_dict()
        out["overdue"] = request.status in (Status.RECEIVED, Status.APPROVED) and now > (
            request.due_at
        )
        return out

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._requests.list(limit)

    def _change(
        self, request_id: str, change: Callable[[DataSubjectRequest], DataSubjectRequest]
    ) -> DataSubjectRequest:
        request = self._load(request_id)
        try:
            changed = change(request)
        except (ValueError, ValidationError) as err:
            raise RequestRefused(str(err)) from None
        return self._save(changed)

    def extend(
        self, request_id: str, reasons: str, subject_told_at: datetime, by: str
    ) -> DataSubjectRequest:
        return self._change(request_id, lambda r: r.extend(reasons, subject_told_at, by))

    def decide(
        self,
        request_id: str,
        approved: bool,
        by: str,
        now: datetime,
        reason: str = "",
        exemptions: Mapping[str, str] | None = None,
    ) -> DataSubjectRequest:
        try:
            decision = Decision(
                approved=approved,
                by=by,
                at=now,
                reason=reason,
                exemptions={k: Exemption(v) for k, v in (exemptions or {}).items()},
            )
        except (ValueError, ValidationError) as err:
            raise RequestRefused(f"invalid decision: {err}") from None
        return self._change(request_id, lambda r: r.decide(decision))

    def lift(self, request_id: str, by: str, reason: str, now: datetime) -> DataSubjectRequest:
        request = self._load(request_id)
        try:
            lifted = request.lifted(by, now, reason)
        except ValueError as err:
            raise RequestRefused(str(err)) from None
        count = self._restriction.lift(request)
        lifted = lifted.model_copy(update={"outcome": {**lifted.outcome, "unflagged": count}})
        return self._save(lifted)

    def execute(
        self, request_id: str, by: str, now: datetime, out_dir: Path | None = None
    ) -> DataSubjectRequest:
        request = self._load(request_id)
        if request.status is not Status.APPROVED:
            raise RequestRefused(
                f"request {request_id} is {request.status.value}: only an approved request "
                "is executed (audit dsr decide)"
            )
        right = request.right
        if right in (Right.ACCESS, Right.PORTABILITY):
            if out_dir is None:
                raise RequestRefused("an access or portability request needs an output directory")
            outcome = self._access(request, by, now, out_dir)
        elif right is Right.ERASURE:
            outcome = self._erasure().erase(request, by, now).as_dict()
        elif right in (Right.RESTRICTION, Right.OBJECTION):
            outcome = {"flagged": self._restriction.apply(request)}
        else:
            outcome = self._rectify(request, by, now)
        return self._save(request.executed(by, now, outcome))

    def _orgs(self, request: DataSubjectRequest) -> tuple[list[str], Counter[str]]:
        """Organizations of the subject's controller events, and customer-content
        events by the organization they are redirected to."""
        orgs: set[str] = set()
        redirected: Counter[str] = Counter()
        for page in self._docs.walk(self._events, subject_query(request)):
            for hit in page:
                if get_value(hit.source, "elastra.data_category") == CUSTOMER_CONTENT:
                    owner = get_value(hit.source, "elastra.resource.organization_id")
                    redirected[str(owner or get_value(hit.source, "organization.id"))] += 1
                else:
                    orgs.add(str(get_value(hit.source, "organization.id")))
        return sorted(orgs), redirected

    def _access(
        self, request: DataSubjectRequest, by: str, now: datetime, out_dir: Path
    ) -> dict[str, Any]:
        orgs, redirected = self._orgs(request)
        name, value = request.subject.term()
        subject = request.subject
        bundles: list[dict[str, Any]] = []
        exporter = self._exporter()
        for org in orgs:
            for fmt in (ExportFormat.NDJSON, ExportFormat.CSV):
                target = out_dir / org / fmt.value
                result = exporter.export(
                    ExportRequest(
                        organization_id=org,
                        export_format=fmt,
                        purpose=f"data subject {request.right.value} request {request.id}",
                        requester=by,
                        redaction=profile("none"),
                        out_dir=target,
                        user_ids=(value,) if name == "user.id" else (),
                        terms=((name, value),) if name != "user.id" else (),
                        exclude_categories=(CUSTOMER_CONTENT,),
                        time_from=subject.time_from,
                        time_to=subject.time_to,
                    ),
                    now,
                )
                bundles.append(
                    {
                        "organization_id": org,
                        "format": fmt.value,
                        "dir": str(target),
                        "events": result.manifest.event_count,
                    }
                )
        return {
            "bundles": bundles,
            "redirected": [
                {"organization_id": o, "events": n} for o, n in sorted(redirected.items())
            ],
        }

    def _rectify(self, request: DataSubjectRequest, by: str, now: datetime) -> dict[str, Any]:
        events = [
            str(get_value(hit.source, "event.id"))
            for page in self._docs.walk(self._events, subject_query(request))
            for hit in page
        ]
        return {
            "note": {
                "correction": request.correction,
                "events": sorted(events),
                "by": by,
                "at": now.isoformat(),
                "effect": "appended note; the events are unchanged",
            }
        }
