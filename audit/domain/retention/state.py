"""What the retention job observes of an index, and the tiers it can be in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from audit.domain.retention.indices import parse_hold_index_name, parse_index_name


class Tier(StrEnum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class IndexState(BaseModel):
    """One index as observed (settings, blocks, segments), or as a plan leaves it.

    Event indices: ``retention_class`` and ``day`` must agree with the name.
    Hold indices (``audit-holds-<id>``): ``retention_class`` is the longest
    class and ``day`` the newest event day of the documents copied in (kept
    by the retention job in the index ``_meta``), so released copies expire
    as the originals would have. ``segments`` is the largest segment count
    of any primary shard.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    retention_class: str
    day: date
    write_block: bool = False
    read_only: bool = False
    replicas: int = Field(default=1, ge=0)
    segments: int = Field(default=1, ge=0)
    tier_preference: str | None = None
    doc_count: int | None = None

    @model_validator(mode="after")
    def _named(self) -> IndexState:
        parsed = parse_index_name(self.name)
        if parsed is not None:
            if (parsed.retention_class, parsed.day) != (self.retention_class, self.day):
                raise ValueError(f"{self.name}: class/day disagree with the index name")
        elif parse_hold_index_name(self.name) is None:
            raise ValueError(f"{self.name} is neither an event index nor a hold index")
        return self

    @classmethod
    def event_index(cls, name: str, **observed: object) -> IndexState:
        """State of an event index, class and day taken from its name."""
        parsed = parse_index_name(name)
        if parsed is None:
            raise ValueError(f"{name} is not an event index name")
        return cls.model_validate(
            {"name": name, "retention_class": parsed.retention_class, "day": parsed.day} | observed
        )

    @property
    def hold_id(self) -> str | None:
        return parse_hold_index_name(self.name)

    def age_days(self, at: datetime) -> int:
        """Whole days since the end of the index's day (UTC); negative while it is open."""
        end = datetime.combine(self.day, time(0), tzinfo=UTC) + timedelta(days=1)
        return (at - end) // timedelta(days=1)

    def tier(self, cold_tier_preference: str) -> Tier:
        """The tier it is in now, from its settings."""
        if self.tier_preference == cold_tier_preference:
            return Tier.COLD
        if self.write_block or self.read_only:
            return Tier.WARM
        return Tier.HOT
