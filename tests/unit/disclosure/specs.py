"""Lawful requests as received, for tests: one place for a plausible intake."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from audit.domain.disclosure import Channel, Intake, ProcessType
from audit.services.disclosures import RequestFile


def request_file(
    ref: str,
    process: str,
    received_at: datetime,
    return_date: datetime | None = None,
    *,
    organization_ids: tuple[str, ...] = ("org_a",),
    requested_data: str = "login records of usr_1",
    **intake: Any,
) -> RequestFile:
    return RequestFile(
        intake=Intake(
            authority="Example County Sheriff",
            agent="Det. R. Diaz",
            channel=Channel.EMAIL,
            received_at=received_at,
            reference=ref,
            organization_ids=organization_ids,
            requested_data=requested_data,
            return_date=return_date,
            **intake,
        ),
        process_type=ProcessType(process),
        received_by="legal1",
    )
