"""The clocks a lawful request starts, by process type.

- preservation (18 U.S.C. § 2703(f)): 90 days, renewable once for 90 more;
- EU preservation order (Regulation (EU) 2023/1543 Art. 11(1)): 60 days,
  unless the issuing authority confirms within them that a production order
  was issued: then preservation continues until production (no fixed end);
- EU production order (Art. 10): 10 days, 8 hours in an emergency;
- a motion to quash (18 U.S.C. § 2703(h)(2)), within 14 days of service, for
  process seeking the contents of a customer who is not a US person and does
  not reside in the US, where disclosure would create a material risk of
  violating the laws of a qualifying foreign government;
- other process: its return date, when it has one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from audit.domain.disclosure.model import DisclosureRequest, ProcessType
from audit.domain.incidents.model import CUSTOMER_CONTENT

PRESERVATION_PERIOD = timedelta(days=90)
PRESERVATION_RENEWAL = timedelta(days=90)
EU_PRESERVATION_PERIOD = timedelta(days=60)
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
        if request.production_order_confirmed_at is not None:
            return None  # Art. 11(1): preserved as long as needed to produce
        return received + EU_PRESERVATION_PERIOD
    return None


def quash_window_applies(request: DisclosureRequest) -> bool:
    """18 U.S.C. 2703(h)(2)(A): content of a non-US person not residing in the US, and a
    material risk of violating a qualifying foreign government's laws. Where the data is
    stored plays no part."""
    content = request.mapping is not None and request.mapping.customer_content
    requested_content = content or CUSTOMER_CONTENT in request.scope
    return (
        request.process_type in QUASHABLE_PROCESSES
        and request.intake.customer_non_us_person
        and request.intake.foreign_law_conflict
        and (requested_content or request.mapping is None)
    )


def clocks(request: DisclosureRequest) -> RequestClocks:
    """Every deadline the request's process type starts (UTC)."""
    received = request.intake.received_at
    response: datetime | None = request.intake.return_date
    if request.process_type is ProcessType.EU_PRODUCTION_ORDER:
        period = EU_PRODUCTION_EMERGENCY if request.emergency else EU_PRODUCTION_PERIOD
        response = received + period
    quash = None
    if quash_window_applies(request):
        quash = received + MOTION_TO_QUASH_PERIOD
    return RequestClocks(
        preservation_expires_at=preservation_expiry(request),
        response_due_at=response,
        motion_to_quash_due_at=quash,
    )
