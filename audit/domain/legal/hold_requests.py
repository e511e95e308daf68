"""A request to place a legal hold, as a value.

Incidents and lawful disclosure requests ask for holds; the retention part
of the service places them (and refuses to delete what they cover). The id
is derived from the source, so asking twice asks for the same hold.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from audit.domain.legal.deadlines import to_utc


class HoldRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    hold_id: str
    source: str = Field(description="what asks for it: 'incident:<id>' or 'disclosure:<id>'")
    reason: str
    organization_ids: tuple[str, ...]
    entities: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    data_categories: tuple[str, ...] = ()
    requested_at: AwareDatetime
    requested_by: str
    expires_at: AwareDatetime | None = Field(
        default=None, description="None: until released by a person"
    )

    @field_validator("requested_at", "expires_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_utc(value)


def hold_id_for(source: str) -> str:
    """Deterministic hold id for ``source``."""
    return "hold-" + hashlib.sha256(source.encode("utf-8")).hexdigest()[:20]
