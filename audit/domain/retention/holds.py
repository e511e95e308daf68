"""Legal holds: what must be preserved beyond retention, and the query for it.

A hold wins over retention: before an event index is deleted, the documents
a hold selects are copied (unchanged, integrity fields included, same
``_id``) into the hold's own index ``audit-holds-<hold id>``, kept until the
hold is released or expires.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from audit.domain.legal.hold_requests import HoldRequest

_FIELD = re.compile(r"^[A-Za-z@_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_HOLD_ID = r"^[a-z0-9][a-z0-9_-]{0,99}$"


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


class HoldScope(BaseModel):
    """What a hold selects: all conditions must hold (AND).

    ``user_ids`` match the actor (``user.id``) or the user acted upon
    (``user.target.id``). ``filters`` map a dotted field to accepted values
    (OR within a field). ``start``/``end`` bound the event time, end
    exclusive; ``None`` is unbounded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    organization_ids: tuple[str, ...] = Field(min_length=1)
    user_ids: tuple[str, ...] = ()
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    filters: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @field_validator("start", "end")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @field_validator("filters")
    @classmethod
    def _fields(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, values in value.items():
            if not _FIELD.match(name):
                raise ValueError(f"invalid field name {name!r}")
            if not values:
                raise ValueError(f"filter on {name!r} has no values")
        return value

    @model_validator(mode="after")
    def _range(self) -> HoldScope:
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class LegalHold(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_HOLD_ID)
    scope: HoldScope
    created_by: str = Field(min_length=1)
    reason: str = Field(min_length=1)
    reference: str = Field(min_length=1, description="case or request reference")
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    released_at: AwareDatetime | None = None
    released_by: str | None = None

    @field_validator("created_at", "expires_at", "released_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _release(self) -> LegalHold:
        if (self.released_at is None) != (self.released_by is None):
            raise ValueError("released_at and released_by go together")
        return self

    def is_active(self, at: datetime) -> bool:
        """Placed at or before ``at`` and neither released nor expired by then."""
        if at < self.created_at:
            return False
        if self.released_at is not None and at >= self.released_at:
            return False
        return not (self.expires_at is not None and at >= self.expires_at)

    def matches_index(self, day: date) -> bool:
        """Whether the daily index of ``day`` may hold selected documents.

        By time range overlap only: every daily index holds every
        organization's events, so the organization is applied by the query.
        """
        day_start = datetime.combine(day, time(0), tzinfo=UTC)
        day_end = day_start + timedelta(days=1)
        if self.scope.start is not None and day_end <= self.scope.start:
            return False
        return not (self.scope.end is not None and day_start >= self.scope.end)

    def release(self, by: str, at: datetime) -> LegalHold:
        if self.released_at is not None:
            raise ValueError(f"hold {self.id} was already released")
        return self.model_copy(update={"released_by": by, "released_at": at.astimezone(UTC)})

    @classmethod
    def from_request(cls, request: HoldRequest, reference: str | None = None) -> LegalHold:
        """The hold an incident or disclosure request asks for (no time bound)."""
        filters = {
            name: values
            for name, values in request.entities.items()
            if name not in {"user.id"} and values
        }
        if request.data_categories:
            filters["elastra.data_category"] = request.data_categories
        return cls(
            id=request.hold_id,
            scope=HoldScope(
                organization_ids=request.organization_ids,
                user_ids=request.entities.get("user.id", ()),
                filters=filters,
            ),
            created_by=request.requested_by,
            reason=request.reason,
            reference=reference or request.source,
            created_at=request.requested_at,
            expires_at=request.expires_at,
        )


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def hold_query(hold: LegalHold) -> dict[str, Any]:
    """The Elasticsearch bool query (a ``query`` clause) selecting held documents."""
    scope = hold.scope
    clauses: list[dict[str, Any]] = [{"terms": {"organization.id": list(scope.organization_ids)}}]
    if scope.start is not None or scope.end is not None:
        bounds: dict[str, str] = {}
        if scope.start is not None:
            bounds["gte"] = _iso(scope.start)
        if scope.end is not None:
            bounds["lt"] = _iso(scope.end)
        clauses.append({"range": {"@timestamp": bounds}})
    if scope.user_ids:
        users = list(scope.user_ids)
        clauses.append(
            {
                "bool": {
                    "should": [{"terms": {"user.id": users}}, {"terms": {"user.target.id": users}}],
                    "minimum_should_match": 1,
                }
            }
        )
    for name in sorted(scope.filters):
        clauses.append({"terms": {name: list(scope.filters[name])}})
    return {"bool": {"filter": clauses}}
