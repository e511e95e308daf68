"""``/v1/detections``: list and get."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from audit.api.deps import CurrentPrincipal, Record, Services
from audit.api.problems import responses
from audit.api.schemas.common import Ident
from audit.api.schemas.incidents import DetectionList, DetectionListParams, DetectionOut
from audit.api.views import detection_view, organizations_to_read, require_visible

router = APIRouter(tags=["detections"], responses=responses(400, 401, 403, 503))


@router.get("/v1/detections", response_model=DetectionList, summary="Detections, oldest first")
def list_detections(
    params: Annotated[DetectionListParams, Query()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
) -> DetectionList:
    record.organization_id = params.organization_id
    found = {}
    for org in organizations_to_read(principal, params.organization_id):
        for detection in services.incidents.detections(rule_id=params.rule_id, organization_id=org):
            found[detection.id] = detection
    ordered = sorted(found.values(), key=lambda d: (d.first_seen, d.id))
    page = ordered[: params.limit]
    record.count = len(page)
    return DetectionList(
        detections=[detection_view(principal, d) for d in page],
        count=len(page),
        truncated=len(ordered) > len(page),
    )


@router.get(
    "/v1/detections/{detection_id}",
    response_model=DetectionOut,
    responses=responses(404),
    summary="One detection",
)
def get_detection(
    detection_id: Annotated[Ident, Path()],
    principal: CurrentPrincipal,
    services: Services,
    record: Record,
) -> DetectionOut:
    record.resource_id = detection_id
    detection = services.incidents.detection(detection_id)
    require_visible(principal, detection)
    record.count = 1
    return detection_view(principal, detection)
