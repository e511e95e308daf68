"""The clocks a lawful request starts, by process type.

- preservation (18 U.S.C. § 2703(f)): 90 days, renewable once for 90 more;
- EU preservation order (Regulation (EU) 2023/1543 Art. 11): 60 days,
  extendable once by 30;
- EU production order (Art. 10): 10 days, 8 hours in an emergency;
- a motion to quash process for data held abroad (18 U.S.C. § 2703(h)(2)):
  within 14 days of service;
- other process: its return date, when it has one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from audit.domain.disclosure.model import DisclosureRequest, ProcessType

PRESERVATION_PERIOD = timedelta(days=90)
PRESERVATION_RENEWAL = timedelta(days=90)
EU_PRESERVATION_PERIOD = timedelta(days=60)
EU_PRESERVATION_EXTENSION = timedelta(days=30)
EU_PRODUCTION_PERIOD = timedelta(days=10)
EU_PRODUCTION_EMERGENCY = timedelta(hours=8)
MOTION_TO_QUASH_PERIOD = timedelta(days=14)
MAX_PRESERVATION_RENEWALS = 1
QUASHABLE_PROCESSES = frozenset(
    {ProcessType.CLOUD_ACT, ProcessType.WARRANT, ProcessType.COURT_ORDER, ProcessType.SUBPOENA}
)


class RequestClocks(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    preservation_expires_at: AwareDatetime | None = None
    response_due_at: AwareDatetime | None = None
    motion_to_quash_due_at: AwareDatetime | None = None


def preservation_expiry(request: DisclosureRequest) -> datetime | None:
    received = request.intake.received_at
    renewals = request.preservation_renewals
    if request.process_type is ProcessType.PRESERVATION:
        return received + PRESERVATION_PERIOD + renewals * PRESERVATION_RENEWAL
    if request.process_type is ProcessType.EU_PRESERVATION_ORDER:
        return received + EU_PRESERVATION_PERIOD + renewals * EU_PRESERVATION_EXTENSION
    return None


def clocks(request: DisclosureRequest) -> RequestClocks:
    """Every deadline the request's process type starts (UTC)."""
    received = request.intake.received_at
    response: datetime | None = request.intake.return_date
    if request.process_type is ProcessType.EU_PRODUCTION_ORDER:
        period = EU_PRODUCTION_EMERGENCY if request.emergency else EU_PRODUCTION_PERIOD
        response = received + period
    quash = None
    if request.intake.data_held_abroad and request.process_type in QUASHABLE_PROCESSES:
        quash = received + MOTION_TO_QUASH_PERIOD
    return RequestClocks(
        preservation_expires_at=preservation_expiry(request),
        response_due_at=response,
        motion_to_quash_due_at=quash,
    )
