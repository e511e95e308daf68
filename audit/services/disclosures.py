"""Lawful disclosure request use cases: every step of a request, one method each.

Intake (from a YAML file or the API), verify, review, map, redirect, ndo,
notice, approve, produce, preserve, renew, close; show, decide, report, and
the listing of legal's inbox (nearest clock first).
Each step returns the updated request; a refused step raises
:class:`audit.domain.disclosure.DisclosureRefused` (409 over HTTP) and
changes nothing. Writes are read-modify-write with optimistic concurrency,
like incidents. Holds follow the request: a preservation places one at
intake, ``preserve`` places one, ``renew`` replaces it by a longer one
before the old one ends, ``close`` and a lapsed preservation release it,
each recorded in the request's history.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.domain.checklists import (
    AttributesConfig,
    ChecklistItemState,
    ChecklistTemplate,
    DataFileError,
    HoldRequest,
    ItemDecision,
    refuse_late_without_reasons,
    validate_decision,
)
from audit.domain.data_files import describe_validation_error, parse_yaml
from audit.domain.disclosure import (
    DisclosureRequest,
    Intake,
    NoticeStatus,
    Outcome,
    ProcessType,
    ProducedBundle,
    RedirectOutcome,
    ReviewOutcome,
    ScopeLimits,
    TransparencyReport,
    approve,
    check_producible,
    clocks,
    close,
    evaluate_request_checklist,
    map_data,
    next_steps,
    notice_plan,
    preservation_hold,
    preservation_lapsed,
    preserve,
    produce,
    receive,
    record_decision,
    record_hold_released,
    record_ndo,
    record_notice,
    record_redirect,
    renew_preservation,
    review,
    transparency_report,
    verify,
    with_hold,
)
from audit.domain.disclosure.model import LEGAL_ROLE
from audit.domain.export import ExportFormat, RedactionProfile, profile
from audit.domain.retention import LegalHold
from audit.errors import AuditError, ConfigurationError
from audit.services.export import ExportRequest, ExportResult
from audit.services.incidents import BadInput
from audit.services.optimistic import update_with_retry
from audit.services.ports.incidents import DisclosureStore

log = logging.getLogger(__name__)
SYSTEM = "audit"  # the actor of what the service does by itself (a lapsed preservation)


class Holds(Protocol):
    """What the disclosure service needs of :class:`audit.services.holds.HoldService`."""

    def create_from_request(
        self, request: HoldRequest, reference: str | None = None
    ) -> LegalHold: ...

    def release(self, hold_id: str, by: str, reason: str, at: datetime) -> LegalHold: ...


class Exporter(Protocol):
    """:class:`audit.services.export.ExportService`."""

    def export(self, request: ExportRequest, now: datetime) -> ExportResult: ...


class ProductionUnavailable(ConfigurationError):
    """No exporter (signing keys) is configured: set the signing key settings, as for
    ``audit export``, so that a production can be exported as a signed bundle."""


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
        holds: Holds | None = None,
        exporter: Callable[[], Exporter] | None = None,
        bundle_dir: Path | None = None,
        redaction: RedactionProfile | None = None,
    ) -> None:
        self._store = store
        self._holds = holds
        self._exporter = exporter
        self._bundle_dir = bundle_dir
        self._redaction = redaction
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
        if hold is not None:
            self._place(hold, request.id)
        return request, hold

    # --- the steps, one method each, each returning the updated request ------

    def verify(
        self,
        request_id: str,
        *,
        contact_used: str,
        contact_source: str,
        confirmed: bool,
        by: str,
        now: datetime,
        method: str = "callback",
    ) -> DisclosureRequest:
        """The out-of-band call-back through a contact found independently."""
        _need(by=by, contact_used=contact_used, contact_source=contact_source, method=method)
        return self._update(
            request_id,
            lambda r: verify(
                r,
                contact_used=contact_used,
                contact_source=contact_source,
                confirmed=confirmed,
                by=by,
                at=now,
                method=method,
            ),
        )

    def review(
        self,
        request_id: str,
        outcome: ReviewOutcome | str,
        *,
        reason: str,
        by: str,
        now: datetime,
        scope: str = "",
        limits: ScopeLimits | None = None,
    ) -> DisclosureRequest:
        """Legal review: accept, narrow (scope text and/or limits), reject or challenge."""
        _need(by=by, reason=reason)
        outcome = _enum(ReviewOutcome, outcome, "review outcome")
        return self._update(
            request_id,
            lambda r: review(r, outcome, reason=reason, by=by, at=now, scope=scope, limits=limits),
        )

    def map(
        self,
        request_id: str,
        *,
        data_categories: Sequence[str],
        organization_ids: Sequence[str],
        by: str,
        now: datetime,
        user_ids: Sequence[str] = (),
        time_from: datetime | None = None,
        time_to: datetime | None = None,
        note: str = "",
    ) -> DisclosureRequest:
        """Which organizations, users, data categories and time range the request reaches."""
        _need(by=by)
        return self._update(
            request_id,
            lambda r: map_data(
                r,
                data_categories=data_categories,
                organization_ids=organization_ids,
                user_ids=user_ids,
                time_from=time_from,
                time_to=time_to,
                note=note,
                by=by,
                at=now,
            ),
        )

    def redirect(
        self,
        request_id: str,
        outcome: RedirectOutcome | str,
        *,
        by: str,
        now: datetime,
        note: str = "",
    ) -> DisclosureRequest:
        """The outcome of sending the requester to the customer (controller) first."""
        _need(by=by)
        outcome = _enum(RedirectOutcome, outcome, "redirect outcome")
        return self._update(
            request_id, lambda r: record_redirect(r, outcome, by=by, at=now, note=note)
        )

    def ndo(
        self,
        request_id: str,
        *,
        expires_at: datetime | None,
        by: str,
        now: datetime,
        reference: str = "",
        issuer: str = "",
        scope: str = "",
    ) -> DisclosureRequest:
        """A non-disclosure order: the customer notice waits until it expires."""
        _need(by=by)
        return self._update(
            request_id,
            lambda r: record_ndo(
                r,
                expires_at=expires_at,
                by=by,
                at=now,
                reference=reference,
                issuer=issuer,
                scope=scope,
            ),
        )

    def notice(
        self,
        request_id: str,
        status: NoticeStatus | str,
        *,
        reason: str,
        by: str,
        now: datetime,
    ) -> DisclosureRequest:
        """The customer notice: sent, deferred or not required, with the reason."""
        _need(by=by)
        status = _enum(NoticeStatus, status, "notice status")
        return self._update(
            request_id, lambda r: record_notice(r, status, reason=reason, by=by, at=now)
        )

    def produce(
        self, request_id: str, *, by: str, now: datetime, purpose: str = ""
    ) -> DisclosureRequest:
        """Export exactly the approved scope, one signed bundle per organization, and
        record each manifest's SHA-256. Nothing is exported when a precondition fails."""
        _need(by=by)
        request = self.get(request_id)
        scope = check_producible(request, now, self._notice_period)
        if self._exporter is None or self._bundle_dir is None:
            raise ProductionUnavailable(
                "production needs the export service (signing keys) and a bundle directory"
            )
        exporter = self._exporter()
        bundles: list[ProducedBundle] = []
        for org in scope.organization_ids:
            bundle_id = f"{request.id}-{org}"
            result = exporter.export(
                ExportRequest(
                    organization_id=org,
                    export_format=ExportFormat.NDJSON,
                    purpose=purpose or f"lawful request {request.id}: {request.scope}",
                    requester=by,
                    redaction=self._redaction or profile("none"),
                    out_dir=self._bundle_dir / request.id / org,
                    user_ids=scope.user_ids,
                    time_from=scope.time_from,
                    time_to=scope.time_to,
                    # the mapped categories only: never more than was approved
                    categories=scope.data_categories,
                ),
                now,
            )
            digest = hashlib.sha256(result.manifest.signing_bytes()).hexdigest()
            bundles.append(
                ProducedBundle(
                    organization_id=org,
                    bundle_id=bundle_id,
                    manifest_sha256=digest,
                    event_count=result.manifest.event_count,
                )
            )
        return self._update(
            request_id,
            lambda r: produce(r, bundles=bundles, by=by, at=now, notice_period=self._notice_period),
        )

    def bundle_path(self, request_id: str, organization_id: str) -> Path:
        """Where the production bundle of one organization was written."""
        if self._bundle_dir is None:
            raise ProductionUnavailable("no bundle directory configured")
        return self._bundle_dir / request_id / organization_id

    def preserve(
        self,
        request_id: str,
        *,
        why: str,
        by: str,
        now: datetime,
        expires_at: datetime | None = None,
    ) -> DisclosureRequest:
        """Preserve the data of a request that is not itself a preservation: a hold."""
        _need(by=by, why=why)
        holder: list[HoldRequest] = []

        def change(r: DisclosureRequest) -> DisclosureRequest:
            holder.clear()
            changed, hold = preserve(r, by=by, at=now, expires_at=expires_at, why=why)
            holder.append(hold)
            return changed

        updated = self._update(request_id, change)
        self._place(holder[-1], request_id)
        return updated

    def renew(
        self, request_id: str, *, why: str, by: str, now: datetime, production_order: str = ""
    ) -> DisclosureRequest:
        """Renew a preservation (2703(f)(2): once, 90 days) or, for an EU preservation
        order, record the confirmed production order (Art. 11(1)): either way a new hold
        with the new expiry is placed before the old one is released, so the data is
        never unprotected."""
        _need(by=by, why=why)
        before = self.get(request_id)
        holder: list[HoldRequest] = []

        def change(r: DisclosureRequest) -> DisclosureRequest:
            renewed = renew_preservation(
                r, by=by, at=now, why=why, production_order=production_order
            )
            hold = preservation_hold(renewed, by=by, at=now, part=f"renewal:{len(r.hold_ids)}")
            holder[:] = [hold]
            return with_hold(renewed, hold, by=by, at=now, why=why)

        updated = self._update(request_id, change)
        hold = holder[-1]  # the one recorded: placed before the old one is released
        self._place(hold, request_id)
        if before.hold_id is not None and not before.hold_released:
            self._release(before.hold_id, by, f"superseded by {hold.hold_id} (renewal)", now)
        return updated

    def close(
        self,
        request_id: str,
        outcome: Outcome | str,
        *,
        by: str,
        now: datetime,
        why: str = "",
    ) -> DisclosureRequest:
        """Close with the outcome; the request's hold is released, recorded."""
        _need(by=by)
        outcome = _enum(Outcome, outcome, "outcome")
        closed = self._update(request_id, lambda r: close(r, outcome, by=by, at=now, why=why))
        return self._release_request_hold(closed, by, now, f"request closed ({outcome})")

    def expire_preservations(self, now: datetime) -> list[str]:
        """Release the holds of preservations whose period ended (the scheduler, every
        minute); each release is recorded in the request's history. Returns the ids."""
        released = []
        for request in self._store.all():
            if request.closed or not preservation_lapsed(request, now):
                continue
            self._release_request_hold(request, SYSTEM, now, "preservation period ended")
            released.append(request.id)
        return released

    def get(self, request_id: str) -> DisclosureRequest:
        return self._store.get(request_id).value

    def show(self, request_id: str, now: datetime) -> dict[str, Any]:
        request = self.get(request_id)
        view = request.model_dump(mode="json")
        view["next_steps"] = list(next_steps(request))
        view["notice_plan"] = notice_plan(request, self._notice_period).model_dump(mode="json")
        view["clocks"] = clocks(request).model_dump(mode="json")
        view["checklist"] = [s.model_dump(mode="json") for s in self.checklist(request, now)]
        return view

    def checklist(self, request: DisclosureRequest, now: datetime) -> list[ChecklistItemState]:
        """The request's checklist as of ``now``: every item, its status and deadline."""
        return evaluate_request_checklist(
            self._template,
            request,
            now=now,
            calendar=self._calendar,
            notice_period=self._notice_period,
        )

    def open_requests(self) -> list[DisclosureRequest]:
        """Every request not closed (the deadlines job's round, every minute)."""
        return self._store.open_requests()

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

        def change(request: DisclosureRequest) -> DisclosureRequest:
            states = self.checklist(request, now)
            refuse_late_without_reasons(self._template, states, decision)
            return record_decision(request, decision)

        return self._update(request_id, change)

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

    def listing(self) -> list[DisclosureRequest]:
        """Every request, as legal's inbox orders them: open ones first by their nearest
        clock (:func:`nearest_clock`), those with no clock after them (oldest received
        first); then closed ones, most recently closed first. Scope filtering (which
        organizations the caller sees) is the caller's."""
        return sorted(self._store.all(), key=_inbox_order)

    # --- holds ----------------------------------------------------------------

    def _place(self, hold: HoldRequest, request_id: str) -> None:
        if self._holds is None:
            log.warning("no hold service: hold %s of %s not placed", hold.hold_id, request_id)
            return
        self._holds.create_from_request(hold, reference=f"disclosure:{request_id}")

    def _release(self, hold_id: str, by: str, reason: str, at: datetime) -> None:
        if self._holds is None:
            return
        try:
            self._holds.release(hold_id, by, reason, at)
        except AuditError as err:  # released by a person already: recorded there
            log.info("hold %s not released again: %s", hold_id, err)

    def _release_request_hold(
        self, request: DisclosureRequest, by: str, at: datetime, reason: str
    ) -> DisclosureRequest:
        if request.hold_id is None or request.hold_released:
            return request
        self._release(request.hold_id, by, reason, at)
        return self._update(request.id, lambda r: record_hold_released(r, by=by, at=at, why=reason))

    def _update(
        self, request_id: str, change: Callable[[DisclosureRequest], DisclosureRequest]
    ) -> DisclosureRequest:
        return update_with_retry(
            lambda: self._store.get(request_id),
            self._store.replace,
            change,
            max_attempts=self._max_attempts,
        )[1]


def nearest_clock(request: DisclosureRequest) -> datetime | None:
    """The nearest of the deadlines the request's process type starts (:func:`clocks`:
    preservation expiry, response due, motion to quash), or None when it starts none."""
    due = [v for v in clocks(request).model_dump().values() if isinstance(v, datetime)]
    return min(due) if due else None


def _inbox_order(request: DisclosureRequest) -> tuple[int, int, float, float]:
    if request.closed_at is not None:
        return (1, 0, -request.closed_at.timestamp(), 0.0)
    due = nearest_clock(request)
    received = request.intake.received_at.timestamp()
    if due is None:
        return (0, 1, received, 0.0)
    return (0, 0, due.timestamp(), received)


def _need(**values: str) -> None:
    for name, value in values.items():
        if not value.strip():
            raise BadInput(f"{name} must not be blank")


_E = TypeVar("_E", ReviewOutcome, RedirectOutcome, NoticeStatus, Outcome)


def _enum(kind: type[_E], value: _E | str, what: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(v.value for v in kind)
        raise BadInput(f"unknown {what} {value!r}; one of: {known}") from None
