"""Types shared by the request models: identifiers, bounded moments."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, StringConstraints, TypeAdapter

from audit.api.principal import ORG_ID_PATTERN

# Printable, no control characters; the length of a contract identifier.
Ident = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")
]
# An organization id, by the one pattern (audit/api/principal.py) checked
# wherever an id enters: path, query, body and token.
OrgId = Annotated[str, StringConstraints(pattern=ORG_ID_PATTERN)]
ActionName = Annotated[
    str, StringConstraints(max_length=128, pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
]
Category = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
Text = Annotated[str, StringConstraints(max_length=4000)]
EntityKind = Literal["user", "ip", "credential", "session"]

EARLIEST = datetime(1971, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 1, 1, tzinfo=UTC)


def _bounded(value: datetime) -> datetime:
    if not EARLIEST <= value <= LATEST:
        raise ValueError("must be between 1971 and 2999")
    return value.astimezone(UTC)


_AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def check_moment(value: Any) -> None:
    """Refuse a time outside 1971-2999 before a model converts it to UTC (no overflow)."""
    if value is None:
        return
    moment = _AWARE.validate_python(value)
    # Compare as naive wall time shifted by the offset, without converting.
    offset = moment.utcoffset()
    naive = moment.replace(tzinfo=None)
    if offset is None or not (
        EARLIEST.replace(tzinfo=None) <= naive <= LATEST.replace(tzinfo=None)
    ):
        raise ValueError("times must be between 1971 and 2999")


Moment = Annotated[AwareDatetime, AfterValidator(_bounded)]
